/* SPDX-License-Identifier: MIT */
/* The spq serial protocol (docs/boards.md "Serial protocol"; host side spq/tools/protocol.py).
 *
 * Frame:  0xA5 0x5A | version u8 | type u8 | seq u8 | length u32 LE | payload | crc u16 LE
 * The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout) over
 * version, type, seq, length and payload. The device answers every request frame with one
 * reply frame carrying the same seq, or with an ERROR frame. Inside a frame no gap between
 * bytes may exceed FW_RX_GAP_MS: a frame cut short is dropped and the device hunts for the
 * next sync pair, so a host that died mid-frame never leaves the device deaf. */
#ifndef SPQ_FW_PROTOCOL_H
#define SPQ_FW_PROTOCOL_H

#include <stdint.h>

#define PROTO_SYNC0 0xA5u
#define PROTO_SYNC1 0x5Au
#define PROTO_VERSION 1u
#define PROTO_HEADER_BYTES 9u

/* host -> device */
#define MSG_HELLO 0x01u
#define MSG_INFER 0x02u
#define MSG_ECHO 0x03u
#define MSG_BYE 0x04u
/* device -> host */
#define MSG_INFO 0x81u
#define MSG_RESULT 0x82u
#define MSG_ECHO_REPLY 0x83u
#define MSG_BYE_ACK 0x84u
#define MSG_ERROR 0xFFu

/* ERROR payload: code u8 | detail u32 LE */
#define ERR_CRC 1u        /* detail: CRC computed by the device */
#define ERR_LENGTH 2u     /* detail: largest payload the device accepts */
#define ERR_VERSION 3u    /* detail: the protocol version the device speaks */
#define ERR_TYPE 4u       /* detail: the unknown type */
#define ERR_INPUT_SIZE 5u /* detail: the input size the model needs */
#define ERR_RUNTIME 6u    /* detail: the spq_status_t (as uint32) */
#define ERR_FAULT 7u      /* detail: fault status register (CFSR) */
#define ERR_NO_MODEL 8u   /* detail: 0 (self-test firmware) */
#define ERR_MODEL_HEADER 9u /* detail: header macro (top 4 bits, MODEL_HEADER_*) and the
                             * descriptor's value (low 28 bits): NAME.h and NAME.c disagree */
#define ERR_TIMEOUT 10u   /* detail: bytes of the frame received before the gap */

/* ERR_MODEL_HEADER: the NAME.h macro that disagrees with the model descriptor */
#define MODEL_HEADER_NUM_CLASSES 1u
#define MODEL_HEADER_NUM_LAYERS 2u
#define MODEL_HEADER_INPUT_BYTES 3u
#define MODEL_HEADER_ARENA_SIZE 4u

/* The longest silence allowed between two bytes of a frame, in milliseconds of the board's
 * timer (under QEMU: virtual time, see docs/boards.md). */
#ifndef FW_RX_GAP_MS
#define FW_RX_GAP_MS 100u
#endif

uint16_t proto_crc16(uint16_t crc, const uint8_t *data, uint32_t len);

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint32_t len;
} proto_header_t;

/* Receive one frame into buf (capacity cap). Returns 0 and fills hdr on success, or an
 * ERR_* code (the error reply has already been sent; a frame cut short before its seq
 * arrived is dropped without a reply). */
uint8_t proto_recv(proto_header_t *hdr, uint8_t *buf, uint32_t cap);

/* Send a frame whose payload is the concatenation of `nparts` (pointer, length) pieces. */
typedef struct {
    const void *data;
    uint32_t len;
} proto_part_t;
void proto_send(uint8_t type, uint8_t seq, const proto_part_t *parts, uint32_t nparts);
void proto_send_error(uint8_t seq, uint8_t code, uint32_t detail);

/* Little-endian writers for building payloads. */
uint8_t *proto_put_u8(uint8_t *p, uint8_t v);
uint8_t *proto_put_u16(uint8_t *p, uint16_t v);
uint8_t *proto_put_u32(uint8_t *p, uint32_t v);
uint8_t *proto_put_u64(uint8_t *p, uint64_t v);

#endif
