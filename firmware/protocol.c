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

static uint8_t getb(uint16_t *crc)
{
    uint8_t b = (uint8_t)uart_getc();
    *crc = proto_crc16(*crc, &b, 1u);
    return b;
}

uint8_t proto_recv(proto_header_t *hdr, uint8_t *buf, uint32_t cap)
{
    uint16_t crc = 0xFFFFu;
    uint16_t got;
    uint8_t version;
    uint32_t i;
    /* hunt for the sync pair */
    int prev = -1;
    for (;;) {
        int b = uart_getc();
        if (prev == (int)PROTO_SYNC0 && b == (int)PROTO_SYNC1) {
            break;
        }
        prev = b;
    }
    version = getb(&crc);
    if (version != PROTO_VERSION) {
        /* Nothing after a wrong version can be trusted: answer and resynchronise. */
        proto_send_error(0, ERR_VERSION, PROTO_VERSION);
        return ERR_VERSION;
    }
    hdr->type = getb(&crc);
    hdr->seq = getb(&crc);
    hdr->len = 0;
    for (i = 0; i < 4u; i++) {
        hdr->len |= (uint32_t)getb(&crc) << (8u * i);
    }
    if (hdr->len > cap) {
        proto_send_error(hdr->seq, ERR_LENGTH, cap);
        return ERR_LENGTH;
    }
    for (i = 0; i < hdr->len; i++) {
        buf[i] = getb(&crc);
    }
    got = (uint16_t)uart_getc();
    got |= (uint16_t)((uint16_t)uart_getc() << 8);
    if (got != crc) {
        proto_send_error(hdr->seq, ERR_CRC, crc);
        return ERR_CRC;
    }
    return 0;
}
