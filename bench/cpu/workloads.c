// Guest workloads for bench/cpu/main.ts: freestanding i386 code, linked at CODE_BASE as one flat image.
// Entry: EAX = workload id, EBX = iterations; the result comes back in EAX, then INT3.
#include <stdint.h>

#define DATA ((uint8_t *)0x20000000)
#define SIEVE_SIZE 200000
#define COPY_SRC (DATA + 0x100000)
#define COPY_DST (DATA + 0x180000)
#define COPY_BYTES 0x40000
#define LZ_IN (DATA + 0x200000)
#define LZ_OUT (DATA + 0x300000)
#define LZ_PARAMS ((volatile uint32_t *)(DATA + 0x1000))

__asm__(
    ".section .entry, \"ax\"\n"
    ".globl _start\n"
    "_start:\n"
    "  pushl %ebx\n"
    "  pushl %eax\n"
    "  call run\n"
    "  addl $8, %esp\n"
    "  int3\n"
    ".text\n");

static uint32_t sieve(uint32_t reps) {
  uint32_t count = 0;
  for (uint32_t r = 0; r < reps; r++) {
    uint8_t *flags = DATA;
    for (uint32_t i = 0; i < SIEVE_SIZE; i++) flags[i] = 1;
    count = 0;
    for (uint32_t i = 2; i < SIEVE_SIZE; i++) {
      if (!flags[i]) continue;
      count++;
      for (uint32_t j = i + i; j < SIEVE_SIZE; j += i) flags[j] = 0;
    }
  }
  return count;
}

static uint32_t copy_rep(uint32_t reps) {
  for (uint32_t r = 0; r < reps; r++) {
    uint32_t n = COPY_BYTES / 4;
    void *d = COPY_DST, *s = COPY_SRC;
    __asm__ volatile("cld; rep movsl" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  }
  return ((uint32_t *)COPY_DST)[COPY_BYTES / 4 - 1];
}

static uint32_t copy_bytes(uint32_t reps) {
  for (uint32_t r = 0; r < reps; r++) {
    volatile uint8_t *d = COPY_DST;
    const uint8_t *s = COPY_SRC;
    for (uint32_t i = 0; i < COPY_BYTES; i++) d[i] = s[i];
  }
  return COPY_DST[COPY_BYTES - 1];
}

static uint32_t fib(uint32_t n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

// Token stream: t < 0x80: t + 1 literal bytes follow; t >= 0x80: copy (t & 0x7f) + 3 bytes from
// 1 + a 16-bit little-endian distance back in the output. A zero-length stream ends at in_len.
static uint32_t lz_decode(const uint8_t *in, uint32_t in_len, uint8_t *out) {
  const uint8_t *end = in + in_len;
  uint8_t *o = out;
  while (in < end) {
    uint32_t t = *in++;
    if (t < 0x80) {
      for (uint32_t n = t + 1; n; n--) *o++ = *in++;
    } else {
      uint32_t len = (t & 0x7f) + 3;
      uint32_t dist = (in[0] | (in[1] << 8)) + 1;
      in += 2;
      const uint8_t *m = o - dist;
      for (; len; len--) *o++ = *m++;
    }
  }
  return (uint32_t)(o - out);
}

static uint32_t lz(uint32_t reps) {
  uint32_t n = 0;
  for (uint32_t r = 0; r < reps; r++) n = lz_decode(LZ_IN, LZ_PARAMS[0], LZ_OUT);
  uint32_t h = n;
  for (uint32_t i = 0; i < n; i += 97) h = h * 31 + LZ_OUT[i];
  return h;
}

uint32_t run(uint32_t id, uint32_t n) {
  switch (id) {
    case 0: return sieve(n);
    case 1: return copy_rep(n);
    case 2: return copy_bytes(n);
    case 3: return fib(n);
    case 4: return lz(n);
    default: return 0xffffffff;
  }
}
