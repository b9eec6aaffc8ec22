/* SPDX-License-Identifier: MIT */
#include "protocol.h"

#include "fw.h"

uint16_t proto_crc16(uint16_t crc, const uint8_t *data, uint32_t len)
{
    uint32_t i;
    for (i = 0; i < len; i++) {
        uint8_t bit;
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8u; bit++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

uint8_t *proto_put_u8(uint8_t *p, uint8_t v)
{
    *p++ = v;
    return p;
}

uint8_t *proto_put_u16(uint8_t *p, uint16_t v)
{
    *p++ = (uint8_t)v;
    *p++ = (uint8_t)(v >> 8);
    return p;
}

uint8_t *proto_put_u32(uint8_t *p, uint32_t v)
{
    p = proto_put_u16(p, (uint16_t)v);
    return proto_put_u16(p, (uint16_t)(v >> 16));
}

uint8_t *proto_put_u64(uint8_t *p, uint64_t v)
{
    p = proto_put_u32(p, (uint32_t)v);
    return proto_put_u32(p, (uint32_t)(v >> 32));
}

static void send_bytes(const uint8_t *p, uint32_t n, uint16_t *crc)
{
    uint32_t i;
    if (crc) {
        *crc = proto_crc16(*crc, p, n);
    }
    for (i = 0; i < n; i++) {
        uart_putc(p[i]);
    }
}

void proto_send(uint8_t type, uint8_t seq, const proto_part_t *parts, uint32_t nparts)
{
    uint8_t head[PROTO_HEADER_BYTES];
    uint8_t tail[2];
    uint32_t total = 0;
    uint32_t i;
    uint16_t crc = 0xFFFFu;
    uint8_t *p = head;
    for (i = 0; i < nparts; i++) {
        total += parts[i].len;
    }
    p = proto_put_u8(p, PROTO_SYNC0);
    p = proto_put_u8(p, PROTO_SYNC1);
    p = proto_put_u8(p, PROTO_VERSION);
    p = proto_put_u8(p, type);
    p = proto_put_u8(p, seq);
    (void)proto_put_u32(p, total);
    send_bytes(head, 2u, 0);
    send_bytes(head + 2, PROTO_HEADER_BYTES - 2u, &crc);
    for (i = 0; i < nparts; i++) {
        send_bytes((const uint8_t *)parts[i].data, parts[i].len, &crc);
    }
    (void)proto_put_u16(tail, crc);
    send_bytes(tail, 2u, 0);
}

void proto_send_error(uint8_t seq, uint8_t code, uint32_t detail)
{
    uint8_t payload[5];
    proto_part_t part;
    (void)proto_put_u32(proto_put_u8(payload, code), detail);
    part.data = payload;
    part.len = sizeof payload;
    proto_send(MSG_ERROR, seq, &part, 1u);
}

/* FW_RX_GAP_MS in timer_now() ticks: SysTick and the DWT both count the processor clock. */
#define RX_GAP_TICKS ((uint64_t)FW_CLOCK_HZ / 1000u * (uint64_t)FW_RX_GAP_MS)

/* The next byte of a frame, or -1 when none arrives within RX_GAP_TICKS. */
static int recv_byte(void)
{
    uint64_t start = timer_now();
    int c;
    while ((c = uart_poll()) < 0) {
        if (timer_now() - start > RX_GAP_TICKS) {
            return -1;
        }
    }
    return c;
}

/* Up to n bytes of a frame into p; returns how many arrived before a gap. */
static uint32_t recv_bytes(uint8_t *p, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        int c = recv_byte();
        if (c < 0) {
            break;
        }
        p[i] = (uint8_t)c;
    }
    return i;
}

/* Wait (for as long as the line stays idle) for a sync pair; return the byte after it, or
 * -1 when none follows in time. A sync byte there starts the pair again, so that leftover
 * sync bytes in front of a frame do not swallow the frame's own. */
static int hunt(void)
{
    int prev = -1;
    for (;;) {
        int b = uart_getc();
        if (prev == (int)PROTO_SYNC0 && b == (int)PROTO_SYNC1) {
            b = recv_byte();
            if (b != (int)PROTO_SYNC0) {
                return b;
            }
        }
        prev = b;
    }
}

/* A frame cut short after its seq: tell the host (if it is still there) how far it got. */
static uint8_t cut_short(uint8_t seq, uint32_t received)
{
    proto_send_error(seq, ERR_TIMEOUT, received);
    return ERR_TIMEOUT;
}

uint8_t proto_recv(proto_header_t *hdr, uint8_t *buf, uint32_t cap)
{
    uint8_t head[PROTO_HEADER_BYTES - 2u]; /* version, type, seq, length u32 */
    uint8_t tail[2];
    uint32_t n;
    uint16_t crc;
    int version = hunt();
    if (version < 0) {
        return ERR_TIMEOUT; /* nothing after the sync pair: no seq to answer */
    }
    if (version != (int)PROTO_VERSION) {
        /* Nothing after a wrong version can be trusted: answer and resynchronise. */
        proto_send_error(0, ERR_VERSION, PROTO_VERSION);
        return ERR_VERSION;
    }
    head[0] = (uint8_t)version;
    n = 1u + recv_bytes(head + 1, sizeof head - 1u);
    if (n < 3u) {
        return ERR_TIMEOUT; /* cut short before its seq */
    }
    hdr->type = head[1];
    hdr->seq = head[2];
    if (n < sizeof head) {
        return cut_short(hdr->seq, n);
    }
    hdr->len = (uint32_t)head[3] | (uint32_t)head[4] << 8 | (uint32_t)head[5] << 16 |
               (uint32_t)head[6] << 24;
    if (hdr->len > cap) {
        proto_send_error(hdr->seq, ERR_LENGTH, cap);
        return ERR_LENGTH;
    }
    n = recv_bytes(buf, hdr->len);
    if (n < hdr->len) {
        return cut_short(hdr->seq, (uint32_t)sizeof head + n);
    }
    n = recv_bytes(tail, 2u);
    if (n < 2u) {
        return cut_short(hdr->seq, (uint32_t)sizeof head + hdr->len + n);
    }
    crc = proto_crc16(proto_crc16(0xFFFFu, head, sizeof head), buf, hdr->len);
    if ((uint16_t)(tail[0] | tail[1] << 8) != crc) {
        proto_send_error(hdr->seq, ERR_CRC, crc);
        return ERR_CRC;
    }
    return 0;
}
