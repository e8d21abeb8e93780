// A TLS client over a connected socket, with OpenSSL loaded at run time (dlopen): binaries that
// never speak TLS need no libssl, and no OpenSSL headers are needed to build. The few functions
// used are declared here by their stable C ABI (OpenSSL 1.1 and 3.x).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "gofer_shims.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
typedef struct x509_verify_param_st X509_VERIFY_PARAM;

static struct {
    int loaded;
    char error[256];
    const SSL_METHOD *(*TLS_client_method)(void);
    SSL_CTX *(*SSL_CTX_new)(const SSL_METHOD *);
    void (*SSL_CTX_free)(SSL_CTX *);
    int (*SSL_CTX_load_verify_locations)(SSL_CTX *, const char *, const char *);
    int (*SSL_CTX_set_default_verify_paths)(SSL_CTX *);
    void (*SSL_CTX_set_verify)(SSL_CTX *, int, void *);
    SSL *(*SSL_new)(SSL_CTX *);
    void (*SSL_free)(SSL *);
    int (*SSL_set_fd)(SSL *, int);
    long (*SSL_ctrl)(SSL *, int, long, void *);
    int (*SSL_set1_host)(SSL *, const char *);
    X509_VERIFY_PARAM *(*SSL_get0_param)(SSL *);
    int (*X509_VERIFY_PARAM_set1_ip_asc)(X509_VERIFY_PARAM *, const char *);
    int (*SSL_connect)(SSL *);
    int (*SSL_read)(SSL *, void *, int);
    int (*SSL_write)(SSL *, const void *, int);
    int (*SSL_get_error)(const SSL *, int);
    int (*SSL_shutdown)(SSL *);
    long (*SSL_get_verify_result)(const SSL *);
    const char *(*X509_verify_cert_error_string)(long);
    unsigned long (*ERR_get_error)(void);
    void (*ERR_error_string_n)(unsigned long, char *, size_t);
} ossl;

static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;

static void *sym(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p && !ossl.error[0]) snprintf(ossl.error, sizeof ossl.error, "OpenSSL has no %s", name);
    return p;
}

static void ossl_load(void) {
    const char *ssl_names[] = {"libssl.so.3", "libssl.so.1.1", "libssl.so", NULL};
    const char *crypto_names[] = {"libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so", NULL};
    void *ssl = NULL, *crypto = NULL;
    for (int i = 0; ssl_names[i] && !ssl; i++) {
        ssl = dlopen(ssl_names[i], RTLD_NOW | RTLD_GLOBAL);
        if (ssl) crypto = dlopen(crypto_names[i], RTLD_NOW | RTLD_GLOBAL);
    }
    if (!ssl || !crypto) {
        snprintf(ossl.error, sizeof ossl.error, "HTTPS needs OpenSSL (libssl.so.3 or .1.1), which is not installed");
        return;
    }
#define LOAD(lib, name) *(void **)(&ossl.name) = sym(lib, #name)
    LOAD(ssl, TLS_client_method); LOAD(ssl, SSL_CTX_new); LOAD(ssl, SSL_CTX_free);
    LOAD(ssl, SSL_CTX_load_verify_locations); LOAD(ssl, SSL_CTX_set_default_verify_paths); LOAD(ssl, SSL_CTX_set_verify);
    LOAD(ssl, SSL_new); LOAD(ssl, SSL_free); LOAD(ssl, SSL_set_fd); LOAD(ssl, SSL_ctrl); LOAD(ssl, SSL_set1_host);
    LOAD(ssl, SSL_get0_param); LOAD(crypto, X509_VERIFY_PARAM_set1_ip_asc); LOAD(ssl, SSL_connect); LOAD(ssl, SSL_read);
    LOAD(ssl, SSL_write); LOAD(ssl, SSL_get_error); LOAD(ssl, SSL_shutdown); LOAD(ssl, SSL_get_verify_result);
    LOAD(crypto, X509_verify_cert_error_string); LOAD(crypto, ERR_get_error); LOAD(crypto, ERR_error_string_n);
#undef LOAD
    ossl.loaded = ossl.error[0] == 0;
}

struct gofer_tls {
    SSL_CTX *ctx;
    SSL *ssl;
};

static void last_error(char *err, size_t len, const char *what) {
    unsigned long e = ossl.ERR_get_error ? ossl.ERR_get_error() : 0;
    char detail[200] = "";
    if (e) ossl.ERR_error_string_n(e, detail, sizeof detail);
    snprintf(err, len, "%s%s%s", what, detail[0] ? ": " : "", detail);
}

gofer_tls *gofer_tls_connect(int fd, const char *host, const char *ca_file, char *err, size_t errlen) {
    pthread_once(&ossl_once, ossl_load);
    if (!ossl.loaded) {
        snprintf(err, errlen, "%s", ossl.error);
        return NULL;
    }
    gofer_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ctx = ossl.SSL_CTX_new(ossl.TLS_client_method());
    if (!t->ctx) {
        last_error(err, errlen, "cannot create a TLS context");
        free(t);
        return NULL;
    }
    int ok = ca_file && ca_file[0] ? ossl.SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL)
                                   : ossl.SSL_CTX_set_default_verify_paths(t->ctx);
    if (ok != 1) {
        char what[300];
        snprintf(what, sizeof what, "cannot load the CA certificates%s%s", ca_file ? " from " : "", ca_file ? ca_file : "");
        last_error(err, errlen, what);
        gofer_tls_close(t);
        return NULL;
    }
    ossl.SSL_CTX_set_verify(t->ctx, 1 /* SSL_VERIFY_PEER */, NULL);
    t->ssl = ossl.SSL_new(t->ctx);
    if (!t->ssl) {
        last_error(err, errlen, "cannot create a TLS session");
        gofer_tls_close(t);
        return NULL;
    }
    ossl.SSL_set_fd(t->ssl, fd);
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    if (is_ip) {
        ossl.X509_VERIFY_PARAM_set1_ip_asc(ossl.SSL_get0_param(t->ssl), host);
    } else {
        ossl.SSL_ctrl(t->ssl, 55 /* SSL_CTRL_SET_TLSEXT_HOSTNAME */, 0 /* TLSEXT_NAMETYPE_host_name */, (void *)host);
        ossl.SSL_set1_host(t->ssl, host);
    }
    if (ossl.SSL_connect(t->ssl) != 1) {
        long verify = ossl.SSL_get_verify_result(t->ssl);
        if (verify != 0) {
            snprintf(err, errlen, "the server's certificate is not trusted: %s", ossl.X509_verify_cert_error_string(verify));
        } else {
            last_error(err, errlen, "TLS handshake failed");
        }
        gofer_tls_close(t);
        return NULL;
    }
    return t;
}

long gofer_tls_read(gofer_tls *t, void *buf, size_t len) {
    int n = ossl.SSL_read(t->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    if (n > 0) return n;
    int e = ossl.SSL_get_error(t->ssl, n);
    return e == 6 /* SSL_ERROR_ZERO_RETURN */ ? 0 : -1;
}

long gofer_tls_write(gofer_tls *t, const void *buf, size_t len) {
    int n = ossl.SSL_write(t->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    return n > 0 ? n : -1;
}

void gofer_tls_close(gofer_tls *t) {
    if (!t) return;
    if (t->ssl) ossl.SSL_free(t->ssl);
    if (t->ctx) ossl.SSL_CTX_free(t->ctx);
    free(t);
}
