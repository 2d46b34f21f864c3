/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealutil: the small pure helpers under the keystore and its front ends.
 * Nothing here knows about keys, LMDB or OpenSSL providers; the only outside
 * dependency is libcrypto's secure heap and cleanse for secret buffers.
 *
 * Conventions: what can fail in a way the user must hear about returns an SU_* code
 * and fills the caller's su_error (may be NULL); what only parses or checks returns
 * bool (true: parsed / holds) and leaves the message to the caller, who knows which
 * option or record the bytes came from. Nothing here needs a keystore or a login.
 */
#ifndef SEALUTIL_H
#define SEALUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- err.c: errors --------------------------------------------------------------------------- */

/* Error codes double as the exit codes of the `sealhsm` tool (docs/reference.md, Exit codes). */
enum {
    SU_OK = 0,
    SU_EUSAGE = 1,     /* bad argument, malformed input from the caller */
    SU_ENOTFOUND = 2,  /* keystore, key, officer ... does not exist */
    SU_ENOPIN = 3,     /* no PIN source available */
    SU_EPIN = 4,       /* wrong PIN, or role locked */
    SU_EPOLICY = 5,    /* policy refused the operation */
    SU_EINTEGRITY = 6, /* bad MAC, tampered or corrupt data */
    SU_EIO = 7         /* I/O or internal error */
};

/* Caller-owned error detail; every API that can fail takes one (may be NULL). */
typedef struct su_error {
    int code;
    char msg[512];
} su_error;

/* Records code and a one-line message (no "sealhsm: " prefix) in e unless e is NULL;
 * returns code, so that `return su_err(e, SU_EIO, ...)` reads as what it does. */
int su_err(su_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets e to SU_OK and an empty message; NULL ok. */
void su_error_clear(su_error *e);
/* Short name of a code ("policy denied", "integrity failure", ...). */
const char *su_strerror(int code);

/* ---- buf.c: byte buffers and bounded readers ------------------------------------------------- */

/*
 * Growable byte buffer. With secure != 0 its storage comes from the OpenSSL
 * secure heap and is cleansed whenever it moves or is freed.
 */
typedef struct su_buf {
    unsigned char *data;
    size_t len, cap;
    int secure;
    int failed; /* sticky: an allocation failed; len is no longer meaningful */
} su_buf;

void su_buf_init(su_buf *b, int secure);
void su_buf_free(su_buf *b); /* cleanses, then frees */
/* Makes room for extra more bytes; false (and b->failed set) when memory runs out or
 * the size would overflow. The writers below call it and only set b->failed: check
 * b->failed once after a series of writes. */
bool su_buf_reserve(su_buf *b, size_t extra);
void su_buf_put(su_buf *b, const void *p, size_t n);
void su_buf_u8(su_buf *b, uint8_t v);
void su_buf_u32(su_buf *b, uint32_t v); /* big-endian */
void su_buf_u64(su_buf *b, uint64_t v); /* big-endian */
/* u32 length prefix followed by the bytes */
void su_buf_bytes(su_buf *b, const void *p, size_t n);
void su_buf_str(su_buf *b, const char *s); /* NULL is encoded as "" */

/* Bounded reader: every get fails (returns false, sets failed) past the end. */
typedef struct su_rd {
    const unsigned char *p;
    size_t left;
    int failed;
} su_rd;

/* Every su_rd_* get returns true when it read its field, false (and r->failed set)
 * when the input ran out or the field is invalid; once failed, every get fails. */
void su_rd_init(su_rd *r, const void *p, size_t n);
bool su_rd_u8(su_rd *r, uint8_t *v);
bool su_rd_u32(su_rd *r, uint32_t *v);
bool su_rd_u64(su_rd *r, uint64_t *v);
bool su_rd_raw(su_rd *r, void *out, size_t n);
/* Length-prefixed field; *p points into the input, valid as long as it is. */
bool su_rd_bytes(su_rd *r, const unsigned char **p, size_t *n, size_t max);
/* Length-prefixed string copied into a fresh NUL-terminated malloc'd string.
 * Refuses embedded NULs and anything longer than max. */
bool su_rd_str(su_rd *r, char **out, size_t max);
/* true when the reader consumed everything without failing */
bool su_rd_done(const su_rd *r);

void su_be32(unsigned char out[4], uint32_t v);
void su_be64(unsigned char out[8], uint64_t v);
uint64_t su_get_be64(const unsigned char in[8]);
uint32_t su_get_be32(const unsigned char in[4]);

/* ---- hex.c: hex ------------------------------------------------------------------------------ */

/* out must hold 2*n+1 bytes; lowercase */
void su_hex(char *out, const unsigned char *in, size_t n);
/* Value of one hex digit (either case), or -1. */
int su_hexdigit(char c);
/* Exactly n bytes from 2*n hex digits (either case); false on any other input. */
bool su_unhex(unsigned char *out, size_t n, const char *hex);

/* ---- time.c: time, durations, rates (docs/reference.md, Formats and conventions) ------------- */

int64_t su_now(void);    /* Unix seconds, UTC */
int64_t su_now_ms(void); /* Unix milliseconds, UTC */
/* "2027-12-31" or "2027-12-31T10:00:00Z" -> Unix seconds; false for anything else
 * (other zones, impossible dates). */
bool su_parse_time(const char *s, int64_t *out);
/* RFC 3339 "YYYY-MM-DDTHH:MM:SSZ"; out must hold 32 bytes. */
void su_format_time(int64_t t, char *out);
/* RFC 3339 with milliseconds, "YYYY-MM-DDTHH:MM:SS.mmmZ"; out holds 32 bytes. */
void su_format_time_ms(int64_t ms, char *out);
/* "30s", "15m", "1h", "7d" -> seconds; false for anything else. */
bool su_parse_duration(const char *s, uint64_t *out);
/* "100/min": N/sec|min|hour|day (also s|m|h|d) -> count and period seconds; false for
 * anything else. */
bool su_parse_rate(const char *s, uint32_t *count, uint32_t *period);
/* Canonical spellings, for display and JSON: "1h", "100/min". */
void su_format_duration(uint64_t secs, char *out, size_t outlen);
void su_format_rate(uint32_t count, uint32_t period, char *out, size_t outlen);

/* ---- uri.c: sealhsm URIs (docs/reference.md, URIs) ------------------------------------------- */

enum { SU_URI_ANY = 0, SU_URI_PRIVATE, SU_URI_PUBLIC, SU_URI_CERT };

#define SU_URI_MAX_LABEL 255
#define SU_KEY_ID_LEN 16

typedef struct su_uri {
    char *label; /* NULL when the URI names an id */
    unsigned char id[SU_KEY_ID_LEN];
    int has_id;
    int type;       /* SU_URI_* */
    char *keystore; /* NULL when not given */
} su_uri;

/* Parses "sealhsm:LABEL", "sealhsm:object=L;type=T;keystore=P", "sealhsm:id=HEX".
 * Returns SU_OK or SU_EUSAGE with a message that quotes (a prefix of) the URI. */
int su_uri_parse(const char *uri, su_uri *out, su_error *e);
/* Frees what su_uri_parse allocated in u and zeroes it. */
void su_uri_clear(su_uri *u);
/* Decodes %XX escapes of s[0..n) into a fresh malloc'd string; NULL on a broken
 * escape, an encoded NUL or no memory. */
char *su_pct_decode(const char *s, size_t n);

/* ---- quote.c: free text in key=value lines --------------------------------------------------- */

/*
 * Writes v (NULL: "") double-quoted into out, escaping '"', '\\', \n, \r, \t and every
 * other byte outside printable ASCII (\xHH), so that the value stays one token of one
 * line. Returns true; false when it had to be cut to fit outlen (it then ends in ..." and
 * is still a well-formed quoted value; outlen < 6 writes nothing).
 */
bool su_quote(char *out, size_t outlen, const char *v);
/* The outlen with which su_quote never cuts v. */
size_t su_quote_size(const char *v);

/* ---- list.c: comma-separated lists and trimmed items ----------------------------------------- */

/* Cuts the blanks (isspace) off both ends of s in place: the first non-blank of s. */
char *su_trim(char *s);

/* Calls fn for each trimmed item of "a, b,c"; stops when fn returns nonzero and passes
 * that value through. Returns SU_OK, SU_EUSAGE for an empty list or an empty item,
 * SU_EIO when out of memory. */
int su_list_each(const char *list, int (*fn)(const char *item, void *arg), void *arg);

/* ---- pin.c: secrets: PINs -------------------------------------------------------------------- */

#define SU_PIN_MIN 6
#define SU_PIN_MAX 256

/* A PIN in secure memory; len excludes the terminating NUL that is also kept. */
typedef struct su_pin {
    char *data;
    size_t len;
} su_pin;

void su_pin_free(su_pin *p); /* cleanses and frees; NULL ok */
/* Copies len bytes into secure memory (no length check); NULL when that runs out. */
su_pin *su_pin_new(const void *data, size_t len);

/*
 * Reads a PIN from a source spec: "env:NAME", "file:PATH", "fd:N" or "prompt"
 * (no-echo prompt on /dev/tty showing `prompt_text`). File and fd contents are the
 * whole PIN with one trailing newline stripped. Length must be SU_PIN_MIN..SU_PIN_MAX.
 * Errors: SU_ENOPIN when the source is absent (unset or empty variable, no terminal),
 * SU_ENOTFOUND for a missing PIN file, SU_EUSAGE for a malformed spec or a bad length
 * (an empty file is a PIN of length 0), SU_EIO for read failures.
 */
int su_pin_from_source(const char *spec, const char *prompt_text, su_pin **out, su_error *e);
/*
 * Takes every SEALHSM_*PIN* variable out of the environment: its value is copied
 * into the secure heap, overwritten in place (so /proc/PID/environ and a core dump
 * no longer show it) and the variable removed. "env:NAME" sources are then served
 * from that copy; a variable first read through "env:NAME" (any name) is taken out
 * the same way. Called by the tool and the provider at start; thread-safe.
 */
void su_pin_env_scrub(void);
/* Cleanses and frees what su_pin_env_scrub took (at exit, before the secure heap
 * goes); "env:" sources give nothing afterwards. */
void su_pin_env_forget(void);
/* True if "env:NAME" would give a value (taken out already, or set and non-empty). */
bool su_pin_env_has(const char *name);
/* Prompts twice on the terminal (no echo) and requires both entries to match. Returns
 * SU_OK; SU_ENOPIN with no terminal; SU_EUSAGE when the entries differ or a length is
 * not SU_PIN_MIN..SU_PIN_MAX; SU_EIO for read failures. */
int su_pin_prompt_new(const char *prompt_text, su_pin **out, su_error *e);
/* true if a controlling terminal (/dev/tty) can be opened for prompting. */
bool su_have_tty(void);

/* ---- fs.c: filesystem ------------------------------------------------------------------------ */

/*
 * Checks that path is a directory owned by the effective uid that group and others
 * can neither read, write nor search (mode 0700 or stricter). SU_ENOTFOUND if
 * missing, SU_EIO if the permissions or owner are wrong (the message names the path
 * and its mode).
 */
int su_check_private_dir(const char *path, su_error *e);
struct stat;
/*
 * Checks a file inside a keystore without following a symbolic link (lstat): a
 * regular file owned by the effective uid, no group or other permission bits.
 * SU_ENOTFOUND if missing; SU_EIO for a symlink, another file type, a wrong owner
 * or mode (the message names the path and the mode).
 */
int su_check_private_file(const char *path, su_error *e);
/* The same checks on a stat result already at hand (lstat or fstat of path). */
int su_check_private_stat(const char *path, const struct stat *st, su_error *e);
/*
 * Opens (flags may add O_CREAT: mode 0600) a keystore file with O_NOFOLLOW and checks
 * the opened file as su_check_private_stat does. Returns the fd, or minus an SU_*
 * code: SU_EIO for a symlink (dangling or not: nothing is created) or a bad mode,
 * SU_ENOTFOUND when missing without O_CREAT.
 */
int su_open_private(const char *path, int flags, su_error *e);
/* Reads a whole (small) file into a malloc'd buffer, at most max bytes. Returns SU_OK;
 * SU_ENOTFOUND when it does not exist; SU_EUSAGE when it is larger than max; SU_EIO
 * for other failures. */
int su_read_file(const char *path, size_t max, unsigned char **out, size_t *outlen, su_error *e);
/* Writes data to path atomically (temp file + fsync + rename), with the given mode;
 * no temporary file is left behind. Returns SU_OK; SU_EUSAGE for a too long path;
 * SU_EIO when any step fails. */
int su_write_file_atomic(const char *path, const void *data, size_t n, int mode, su_error *e);

#ifdef __cplusplus
}
#endif
#endif
