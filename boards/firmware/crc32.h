/* IEEE CRC-32 (zlib's crc32()): crc32_update(0, data, n) equals zlib.crc32(data). */
#ifndef EQ_CRC32_H
#define EQ_CRC32_H
#include <stddef.h>
#include <stdint.h>
uint32_t crc32_update(uint32_t crc, const void *data, size_t n);
#endif
