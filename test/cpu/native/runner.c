// Runs differential test cases on the host CPU in a 32-bit Linux process.
// Built by test/cpu/native.ts with gcc -m32; the layout comes in as -D macros from test/cpu/layout.ts.
// Protocol (little endian, length-prefixed records) is described in test/cpu/native.ts.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cpuid.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/ucontext.h>
#include <time.h>
#include <unistd.h>

#ifndef CODE_BASE
#error "build with -DCODE_BASE=... (see test/cpu/native.ts)"
#endif

enum { ST_SIGNAL = 0, ST_TIMEOUT = 1, ST_SYSCALL = 2 };
enum { REQ_NO_DIFF = 1 };

struct entry_state {
  uint32_t r[8];
  uint32_t eflags;
  uint32_t entry;
};
struct entry_state g_in;

struct result {
  uint32_t status, signo, sicode, trapno, err, cr2, eip, eflags, r[8];
  uint16_t cw, sw, tw;
  uint8_t st[8][10];
  uint32_t fip, fdp, fop;
};
static struct result g_out;
static sigjmp_buf g_jump;
static volatile sig_atomic_t g_in_case;

static uint32_t code_size = CODE_SIZE, data_size = DATA_SIZE;
static uint8_t *data_init, *low_init;
static int low_mapped;
static long timeout_ms = 500;

void enter_case(void) __attribute__((noreturn));
__asm__(
    ".text\n"
    ".globl enter_case\n"
    "enter_case:\n"
    "  fninit\n"
    "  pushl g_in+32\n"
    "  popfl\n"
    "  movl g_in+4, %ecx\n"
    "  movl g_in+8, %edx\n"
    "  movl g_in+12, %ebx\n"
    "  movl g_in+20, %ebp\n"
    "  movl g_in+24, %esi\n"
    "  movl g_in+28, %edi\n"
    "  movl g_in+16, %esp\n"
    "  movl g_in+0, %eax\n"
    "  jmp *g_in+36\n");

// Signal entry: the kernel leaves EFLAGS.AC as the case set it, and with CR0.AM
// an unaligned access in the handler would then raise #AC itself.
void on_signal_entry(int, siginfo_t *, void *);
__asm__(
    ".text\n"
    ".globl on_signal_entry\n"
    "on_signal_entry:\n"
    "  pushfl\n"
    "  andl $0xfffbffff, (%esp)\n"
    "  popfl\n"
    "  jmp on_signal\n");

static void die(const char *msg) {
  write(2, msg, strlen(msg));
  _exit(3);
}

void on_signal(int sig, siginfo_t *si, void *ctx) {
  ucontext_t *uc = ctx;
  if (!g_in_case) {
    char buf[128];
    snprintf(buf, sizeof buf, "runner: signal %d outside a case at eip %08lx\n", sig,
             (unsigned long)uc->uc_mcontext.gregs[REG_EIP]);
    die(buf);
  }
  g_in_case = 0;
  greg_t *g = uc->uc_mcontext.gregs;
  g_out.status = sig == SIGVTALRM ? ST_TIMEOUT : sig == SIGSYS ? ST_SYSCALL : ST_SIGNAL;
  g_out.signo = sig;
  g_out.sicode = si->si_code;
  g_out.trapno = g[REG_TRAPNO];
  g_out.err = g[REG_ERR];
  g_out.cr2 = uc->uc_mcontext.cr2;
  g_out.eip = g[REG_EIP];
  g_out.eflags = g[REG_EFL];
  static const int order[8] = {REG_EAX, REG_ECX, REG_EDX, REG_EBX, REG_ESP, REG_EBP, REG_ESI, REG_EDI};
  for (int i = 0; i < 8; i++) g_out.r[i] = g[order[i]];
  struct _libc_fpstate *fp = uc->uc_mcontext.fpregs;
  if (fp) {
    g_out.cw = fp->cw;
    g_out.sw = fp->sw;
    g_out.tw = fp->tag;
    g_out.fip = fp->ipoff;
    g_out.fdp = fp->dataoff;
    g_out.fop = fp->cssel >> 16;
    for (int i = 0; i < 8; i++) memcpy(g_out.st[i], &fp->_st[i], 10);
  } else {
    g_out.cw = g_out.sw = g_out.tw = 0xffff;
  }
  siglongjmp(g_jump, 1);
}

static void fill(uint8_t *out, uint32_t len, uint32_t *state) {
  uint32_t *w = (uint32_t *)out;
  uint32_t x = *state;
  if (x == 0) {
    memset(out, 0, len);
    return;
  }
  for (uint32_t i = 0; i < len / 4; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    w[i] = x;
  }
  *state = x;
}

// ---- buffered I/O on fds 0 and 1 (no stdio: the process runs under seccomp).

static uint8_t inbuf[1 << 20];
static size_t in_len, in_pos;
static uint8_t outbuf[1 << 20];
static size_t out_len;

static void flush_out(void) {
  size_t off = 0;
  while (off < out_len) {
    ssize_t n = write(1, outbuf + off, out_len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(4);
    off += n;
  }
  out_len = 0;
}

static void out_bytes(const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    if (out_len == sizeof outbuf) flush_out();
    size_t k = sizeof outbuf - out_len;
    if (k > n) k = n;
    memcpy(outbuf + out_len, b, k);
    out_len += k;
    b += k;
    n -= k;
  }
}
static void out_u32(uint32_t v) { out_bytes(&v, 4); }

// Returns 0 at a clean end of input.
static int in_bytes(void *p, size_t n) {
  uint8_t *b = p;
  while (n) {
    if (in_pos == in_len) {
      flush_out();
      ssize_t r = read(0, inbuf, sizeof inbuf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return 0;
      in_len = r;
      in_pos = 0;
    }
    size_t k = in_len - in_pos;
    if (k > n) k = n;
    memcpy(b, inbuf + in_pos, k);
    in_pos += k;
    b += k;
    n -= k;
  }
  return 1;
}

static void *map_fixed(uint32_t addr, uint32_t size) {
  void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || p != (void *)addr) return NULL;
  return p;
}

static void install_seccomp(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      // A system call from the windows or anywhere else below 0x30000000 but the runner's own text (0x08000000..)
      // comes from a case: report it, never run it.
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x30000000, 4, 0),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x10000000, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x08000000, 2, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_read, 9, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 8, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 7, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 6, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 5, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setitimer, 4, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime64, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigprocmask, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
    perror("runner: seccomp");
    exit(2);
  }
}

// Under QEMU user mode there is no seccomp (QEMU refuses the filter: it would apply to QEMU's own
// system calls). A case never makes a system call on purpose, but a wild jump into a data window
// could; the runner then gives up root and the right to create or grow files before the first case.
static void drop_privileges(void) {
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_FSIZE, &none)) die("runner: setrlimit failed\n");
  if (getuid() == 0 || geteuid() == 0) {
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) die("runner: cannot drop root\n");
  }
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static void set_timer(long ms) {
  struct itimerval t = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
  setitimer(ITIMER_VIRTUAL, &t, NULL);
}

static uint8_t req[1 << 24];
static uint8_t *resp;
static size_t rlen;
static void r_bytes(const void *p, size_t n) { memcpy(resp + rlen, p, n); rlen += n; }
static void r_u32(uint32_t v) { r_bytes(&v, 4); }
static void r_u16(uint16_t v) { r_bytes(&v, 2); }

static void append_diff(const uint8_t *now, const uint8_t *init, uint32_t base, uint32_t len, uint32_t *count) {
  uint32_t i = 0;
  while (i < len) {
    if (now[i] == init[i]) {
      i++;
      continue;
    }
    uint32_t start = i, end = i + 1;
    for (uint32_t j = i + 1; j < len && j < end + 8; j++)
      if (now[j] != init[j]) end = j + 1;
    r_u32(base + start);
    r_u16(end - start);
    r_bytes(now + start, end - start);
    ++*count;
    i = end;
  }
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

int main(int argc, char **argv) {
  int use_seccomp = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--code-size") && i + 1 < argc) code_size = strtoul(argv[++i], 0, 0);
    else if (!strcmp(argv[i], "--data-size") && i + 1 < argc) data_size = strtoul(argv[++i], 0, 0);
    else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) timeout_ms = strtol(argv[++i], 0, 0);
    else if (!strcmp(argv[i], "--no-seccomp")) use_seccomp = 0;
    else {
      fprintf(stderr, "usage: runner [--code-size N] [--data-size N] [--timeout-ms N] [--no-seccomp] < cases > results\n");
      return 2;
    }
  }
  uint8_t *code = map_fixed(CODE_BASE, code_size);
  uint8_t *data = map_fixed(DATA_BASE, data_size);
  if (!code || !data) {
    fprintf(stderr, "runner: cannot map the code/data windows at %#x/%#x\n", CODE_BASE, DATA_BASE);
    return 2;
  }
  uint8_t *low = map_fixed(LOW_BASE, LOW_SIZE);
  low_mapped = low != NULL;
  data_init = malloc(data_size);
  low_init = malloc(LOW_SIZE);
  resp = malloc(2 * ((size_t)data_size + LOW_SIZE) + 4096);

  static uint8_t altstack[256 * 1024];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL)) {
    perror("runner: sigaltstack");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal_entry;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  static const int sigs[] = {SIGTRAP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGVTALRM, SIGSYS, SIGSTKFLT};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  if (use_seccomp) install_seccomp();
  else drop_privileges();

  // Hello: magic, version, low window mapped, then what CPUID says of the CPU that runs the cases
  // (vendor, leaf 1 EAX, leaf 7 EBX; 0 where a leaf is missing).
  unsigned a, b, c, d, vendor[3] = {0, 0, 0}, sig = 0, l7b = 0;
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    vendor[0] = b, vendor[1] = d, vendor[2] = c;
    unsigned max = a;
    if (__get_cpuid(1, &a, &b, &c, &d)) sig = a;
    if (max >= 7) {
      __cpuid_count(7, 0, a, b, c, d);
      l7b = b;
    }
  }
  out_u32(0x484d564c);
  out_u32(3);
  out_u32(low_mapped);
  for (int i = 0; i < 3; i++) out_u32(vendor[i]);
  out_u32(sig);
  out_u32(l7b);
  flush_out();

  for (;;) {
    uint32_t len;
    if (!in_bytes(&len, 4)) break;
    if (len > sizeof req) die("runner: request too large\n");
    if (!in_bytes(req, len)) die("runner: truncated request\n");
    const uint8_t *p = req;
    uint32_t id = rd32(p);
    p += 4;
    for (int i = 0; i < 8; i++) g_in.r[i] = rd32(p + 4 * i);
    p += 32;
    g_in.eflags = rd32(p);
    uint32_t seed = rd32(p + 4);
    uint32_t flags = rd32(p + 8);
    uint32_t code_off = rd32(p + 12);
    uint32_t code_len = rd32(p + 16);
    p += 20;
    if (code_off + code_len > code_size) die("runner: code outside the code window\n");
    memset(code, 0xcc, code_size);
    memcpy(code + code_off, p, code_len);
    p += code_len;
    uint32_t state = seed;
    fill(data_init, data_size, &state);
    fill(low_init, LOW_SIZE, &state);
    uint32_t npatch = rd32(p);
    p += 4;
    for (uint32_t i = 0; i < npatch; i++) {
      uint32_t addr = rd32(p), plen = rd16(p + 4);
      p += 6;
      if (addr >= DATA_BASE && addr + plen <= DATA_BASE + data_size) memcpy(data_init + (addr - DATA_BASE), p, plen);
      else if (addr >= LOW_BASE && addr + plen <= LOW_BASE + LOW_SIZE) memcpy(low_init + (addr - LOW_BASE), p, plen);
      else if (addr >= CODE_BASE && addr + plen <= CODE_BASE + code_size) memcpy(code + (addr - CODE_BASE), p, plen);
      else die("runner: patch outside the windows\n");
      p += plen;
    }
    memcpy(data, data_init, data_size);
    if (low_mapped) memcpy(low, low_init, LOW_SIZE);
    g_in.entry = CODE_BASE + code_off;
    memset(&g_out, 0, sizeof g_out);

    struct timespec t0, t1;
    if (timeout_ms > 0) set_timer(timeout_ms);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (sigsetjmp(g_jump, 0) == 0) {
      g_in_case = 1;
      enter_case();
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (timeout_ms > 0) set_timer(0);
    uint64_t ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (t1.tv_nsec - t0.tv_nsec);

    rlen = 0;
    r_u32(0);
    r_u32(id);
    r_u32(g_out.status);
    r_u32(g_out.signo);
    r_u32(g_out.sicode);
    r_u32(g_out.trapno);
    r_u32(g_out.err);
    r_u32(g_out.cr2);
    r_u32(g_out.eip);
    r_u32(g_out.eflags);
    for (int i = 0; i < 8; i++) r_u32(g_out.r[i]);
    r_u16(g_out.cw);
    r_u16(g_out.sw);
    r_u16(g_out.tw);
    r_u16(0);
    r_bytes(g_out.st, sizeof g_out.st);
    r_u32(g_out.fip);
    r_u32(g_out.fdp);
    r_u32(g_out.fop);
    r_u32((uint32_t)ns);
    r_u32((uint32_t)(ns >> 32));
    size_t count_at = rlen;
    r_u32(0);
    uint32_t count = 0;
    if (!(flags & REQ_NO_DIFF)) {
      append_diff(data, data_init, DATA_BASE, data_size, &count);
      if (low_mapped) append_diff(low, low_init, LOW_BASE, LOW_SIZE, &count);
    }
    memcpy(resp + count_at, &count, 4);
    uint32_t body = rlen - 4;
    memcpy(resp, &body, 4);
    out_bytes(resp, rlen);
    // Each result leaves at once: if a later case kills the process, the results before it still count.
    flush_out();
  }
  flush_out();
  return 0;
}
