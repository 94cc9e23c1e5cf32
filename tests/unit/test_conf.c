/* test_conf.c - the conf suite: accel.conf syntax, every directive, its defaults and every error
 * message, through conf_parse() on strings and conf_load() on files. */
#include "accel/conf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The two required directives; a test appends its own lines, which start at line 3. */
#define BASE "listen 127.0.0.1:0\norigin 127.0.0.1:8080\n"

static struct conf *parse_ok(const char *text)
{
    struct conf *c = NULL;
    char err[512] = "";
    int rc;

    rc = conf_parse("t.conf", text, strlen(text), &c, err, sizeof err);
    cr_assert_eq(rc, 0, "conf_parse: %d %s", rc, err);
    cr_assert_not_null(c);
    cr_assert_str_empty(err);
    return c;
}

static void expect_err_len(const char *text, size_t len, const char *msg)
{
    struct conf *c = NULL;
    char err[512] = "";
    int rc;

    rc = conf_parse("t.conf", text, len, &c, err, sizeof err);
    cr_assert_eq(rc, -EINVAL, "rc %d for <%s>", rc, text);
    cr_assert_null(c);
    cr_assert_str_eq(err, msg);
}

static void expect_err(const char *text, const char *msg)
{
    expect_err_len(text, strlen(text), msg);
}

static uint16_t port_of(const struct conf_addr *a)
{
    if (a->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

/* Writes <len> bytes of <text> to a fresh temporary file; returns its path (free it). */
static char *temp_file(const char *text, size_t len)
{
    char *path = strdup("/tmp/test_conf.XXXXXX");
    int fd;

    cr_assert_not_null(path);
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        cr_assert_gt(n, 0);
        text += n;
        len -= (size_t)n;
    }
    close(fd);
    return path;
}

/* --- defaults and the whole syntax ----------------------------------------------------------- */

Test(conf, defaults)
{
    struct conf *c = parse_ok(BASE);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    cr_assert_str_eq(c->path, "t.conf");
    cr_assert_eq(c->n_listen, 1);
    cr_assert_str_eq(c->listen[0].text, "127.0.0.1:0");
    cr_assert_eq(c->workers, cpus < 1 ? 1 : cpus > 256 ? 256 : (unsigned)cpus);
    cr_assert_str_eq(c->upstreams[0].servers[0].addr.text, "127.0.0.1:8080");
    cr_assert_str_eq(c->upstreams[0].servers[0].host, "127.0.0.1:8080");
    cr_assert_null(c->host_header);
    cr_assert_eq(c->origin_keepalive, 256);
    cr_assert_eq(c->max_uri_length, 8 * 1024);
    cr_assert_eq(c->max_header_size, 32 * 1024);
    cr_assert_eq(c->max_headers, 100);
    cr_assert_eq(c->max_body_size, 10 * 1024 * 1024);
    cr_assert_eq(c->max_origin_header_size, 64 * 1024);
    cr_assert_eq(c->max_connections, 10000);
    cr_assert_eq(c->client_header_timeout, 10000);
    cr_assert_eq(c->client_body_timeout, 30000);
    cr_assert_eq(c->keepalive_timeout, 60000);
    cr_assert_eq(c->send_timeout, 30000);
    cr_assert_eq(c->origin_connect_timeout, 5000);
    cr_assert_eq(c->origin_timeout, 30000);
    cr_assert_eq(c->drain_timeout, 10000);
    cr_assert_null(c->access_log);
    cr_assert_null(c->error_log);
    cr_assert_eq(c->error_log_level, LOG_LVL_INFO);
    conf_free(&c);
    cr_assert_null(c);
}

Test(conf, every_directive)
{
    struct conf *c = parse_ok("listen 127.0.0.1:8080\n"
                              "listen [::1]:8081\n"
                              "workers 4\n"
                              "origin 127.0.0.1:9000\n"
                              "host_header example.com\n"
                              "origin_keepalive 0\n"
                              "max_uri_length 4k\n"
                              "max_header_size 1m\n"
                              "max_headers 10000\n"
                              "max_body_size 0\n"
                              "max_origin_header_size 1k\n"
                              "max_connections 1000000\n"
                              "client_header_timeout 500ms\n"
                              "client_body_timeout 2m\n"
                              "keepalive_timeout 0\n"
                              "send_timeout 1h\n"
                              "origin_connect_timeout 1d\n"
                              "origin_timeout 7\n"
                              "drain_timeout 1s\n"
                              "access_log /var/log/accel/access.log\n"
                              "error_log /var/log/accel/error.log warn\n");

    cr_assert_eq(c->n_listen, 2);
    cr_assert_eq(c->listen[0].sa.ss_family, AF_INET);
    cr_assert_eq(c->listen[1].sa.ss_family, AF_INET6);
    cr_assert_str_eq(c->listen[1].text, "[::1]:8081");
    cr_assert_eq(c->workers, 4);
    cr_assert_eq(port_of(&c->upstreams[0].servers[0].addr), 9000);
    cr_assert_str_eq(c->host_header, "example.com");
    cr_assert_eq(c->origin_keepalive, 0);
    cr_assert_eq(c->max_uri_length, 4096);
    cr_assert_eq(c->max_header_size, 1024 * 1024);
    cr_assert_eq(c->max_headers, 10000);
    cr_assert_eq(c->max_body_size, 0);
    cr_assert_eq(c->max_origin_header_size, 1024);
    cr_assert_eq(c->max_connections, 1000000);
    cr_assert_eq(c->client_header_timeout, 500);
    cr_assert_eq(c->client_body_timeout, 120000);
    cr_assert_eq(c->keepalive_timeout, 0);
    cr_assert_eq(c->send_timeout, 3600000);
    cr_assert_eq(c->origin_connect_timeout, 86400000);
    cr_assert_eq(c->origin_timeout, 7000);
    cr_assert_eq(c->drain_timeout, 1000);
    cr_assert_str_eq(c->access_log, "/var/log/accel/access.log");
    cr_assert_str_eq(c->error_log, "/var/log/accel/error.log");
    cr_assert_eq(c->error_log_level, LOG_LVL_WARN);
    conf_free(&c);
}

Test(conf, semicolons_comments_blank_lines_crlf)
{
    struct conf *c = parse_ok("# accel.conf\n"
                              "\n"
                              "   \t\n"
                              "listen 127.0.0.1:8080;   # trailing comment\n"
                              "\tlisten   127.0.0.1:8081 ;\r\n"
                              "origin 127.0.0.1:80;workers 2;\n"
                              "max_headers 7# glued comment\n"
                              "# the end, no final newline");

    cr_assert_eq(c->n_listen, 2);
    cr_assert_eq(port_of(&c->listen[1]), 8081);
    cr_assert_eq(c->workers, 2);
    cr_assert_eq(c->max_headers, 7);
    conf_free(&c);
}

Test(conf, quoted_arguments)
{
    struct conf *c = parse_ok(BASE "access_log \"/logs/a b/#not a comment;{}.log\"\n"
                                   "error_log \"/q\\\"uote\\\\back\" \"debug\"\n");

    cr_assert_str_eq(c->access_log, "/logs/a b/#not a comment;{}.log");
    cr_assert_str_eq(c->error_log, "/q\"uote\\back");
    cr_assert_eq(c->error_log_level, LOG_LVL_DEBUG);
    conf_free(&c);
}

Test(conf, quoted_directive_name_and_tab)
{
    struct conf *c = parse_ok(BASE "\"workers\" \"3\"\naccess_log \"a\tb\"\n");

    cr_assert_eq(c->workers, 3);
    cr_assert_str_eq(c->access_log, "a\tb");
    conf_free(&c);
}

Test(conf, logs_off_stderr_and_levels)
{
    static const struct {
        const char *level;
        enum log_level want;
    } levels[] = {{"debug", LOG_LVL_DEBUG},
                  {"info", LOG_LVL_INFO},
                  {"warn", LOG_LVL_WARN},
                  {"error", LOG_LVL_ERROR}};
    char text[256];
    struct conf *c;

    c = parse_ok(BASE "access_log off\nerror_log stderr\n");
    cr_assert_null(c->access_log);
    cr_assert_null(c->error_log);
    cr_assert_eq(c->error_log_level, LOG_LVL_INFO);
    conf_free(&c);
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        snprintf(text, sizeof text, BASE "error_log stderr %s\n", levels[i].level);
        c = parse_ok(text);
        cr_assert_null(c->error_log);
        cr_assert_eq(c->error_log_level, levels[i].want, "%s", levels[i].level);
        conf_free(&c);
    }
}

Test(conf, workers_auto)
{
    struct conf *c = parse_ok(BASE "workers auto\n");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    cr_assert_eq(c->workers, cpus < 1 ? 1 : cpus > 256 ? 256 : (unsigned)cpus);
    conf_free(&c);
    c = parse_ok(BASE "workers 256\n");
    cr_assert_eq(c->workers, 256);
    conf_free(&c);
}

Test(conf, listen_up_to_max_and_port_zero_twice)
{
    char text[2048];
    size_t n = 0;
    struct conf *c;

    n += (size_t)snprintf(text + n, sizeof text - n, "origin 127.0.0.1:80\n");
    n += (size_t)snprintf(text + n, sizeof text - n, "listen 127.0.0.1:0\nlisten 127.0.0.1:0\n");
    for (int i = 2; i < CONF_MAX_LISTEN; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "listen 127.0.0.1:%d\n", 9000 + i);
    c = parse_ok(text);
    cr_assert_eq(c->n_listen, CONF_MAX_LISTEN);
    cr_assert_eq(port_of(&c->listen[CONF_MAX_LISTEN - 1]), 9000 + CONF_MAX_LISTEN - 1);
    conf_free(&c);
}

Test(conf, origin_host_is_kept_as_written)
{
    struct conf *c = parse_ok("listen 8080\norigin localhost:8081\n");

    cr_assert_str_eq(c->upstreams[0].servers[0].host, "localhost:8081");
    cr_assert_eq(port_of(&c->upstreams[0].servers[0].addr), 8081);
    cr_assert_str_eq(c->listen[0].text, "0.0.0.0:8080");
    conf_free(&c);
}

/* Blocks are tokenized even though no directive takes one yet. */
Test(conf, block_is_unknown_directive_at_its_line)
{
    expect_err(BASE "tls {\n  listen 127.0.0.1:9;\n  cert /x;\n}\n",
               "t.conf:3: unknown directive \"tls\"");
    expect_err(BASE "tls { listen 127.0.0.1:9; cert /x }\n", "t.conf:3: unknown directive \"tls\"");
    expect_err(BASE "outer {\n inner { a b; }\n}\n", "t.conf:3: unknown directive \"outer\"");
    /* a known block reports errors inside it at their own line */
    expect_err(BASE "admin {\n  listen 127.0.0.1:9;\n  token_file /nonexistent/x;\n}\n",
               "t.conf:5: admin: token_file: /nonexistent/x: No such file or directory");
    expect_err(BASE "admin {\n  listen 127.0.0.1:9;\n  bogus 1;\n}\n",
               "t.conf:5: unknown directive \"bogus\"");
    expect_err(BASE "admin{}\n", "t.conf:3: admin: missing required directive \"listen\"");
}

Test(conf, block_on_known_directive)
{
    expect_err(BASE "workers 2 {\n}\n", "t.conf:3: workers: takes no \"{ ... }\" block");
}

/* --- syntax errors --------------------------------------------------------------------------- */

Test(conf, unbalanced_braces)
{
    expect_err(BASE "}\n", "t.conf:3: unexpected \"}\"");
    expect_err(BASE "admin {\n}\n}\n", "t.conf:5: unexpected \"}\"");
    expect_err(BASE "\nadmin {\n listen 1;\n", "t.conf:4: \"{\" is never closed");
    expect_err(BASE "a {\n b {\n }\n", "t.conf:3: \"{\" is never closed");
    expect_err(BASE "admin\n{\n}\n",
               "t.conf:4: \"{\" must follow its directive's name on the same line");
}

Test(conf, nesting_too_deep)
{
    expect_err(BASE "a { b { c { d { e { f { g { h { i {\n",
               "t.conf:3: blocks nested too deeply (at most 8)");
}

Test(conf, stray_semicolon)
{
    expect_err(BASE ";\n", "t.conf:3: unexpected \";\"");
    expect_err(BASE "workers 2;;\n", "t.conf:3: unexpected \";\"");
}

Test(conf, quote_errors)
{
    expect_err(BASE "access_log \"/a\n", "t.conf:3: unterminated quoted string");
    expect_err(BASE "access_log \"/a", "t.conf:3: unterminated quoted string");
    expect_err(BASE "access_log \"/a\\n\"\n",
               "t.conf:3: bad escape in quoted string (only \\\" and \\\\ are known)");
    expect_err(BASE "access_log \"/a\\",
               "t.conf:3: bad escape in quoted string (only \\\" and \\\\ are known)");
    expect_err(BASE "access_log \"/a\"b\n", "t.conf:3: expected a space after the closing quote");
    expect_err(BASE "access_log /a\"b\"\n",
               "t.conf:3: unexpected '\"' inside a word (quote the whole word)");
    expect_err(BASE "access_log \"a\x01\"\n", "t.conf:3: unexpected byte 0x01 in quoted string");
}

Test(conf, control_bytes)
{
    static const char text[] = BASE "access_log /a\0b\n";

    expect_err_len(text, sizeof text - 1, "t.conf:3: unexpected byte 0x00");
    expect_err(BASE "access_log /a\x7f\n", "t.conf:3: unexpected byte 0x7f");
}

Test(conf, control_bytes_in_comments_are_fine)
{
    static const char text[] = BASE "# \0\x01\x7f\n";
    struct conf *c = NULL;
    char err[256];

    cr_assert_eq(conf_parse("t.conf", text, sizeof text - 1, &c, err, sizeof err), 0, "%s", err);
    conf_free(&c);
}

Test(conf, too_many_arguments)
{
    char text[1024];
    size_t n = (size_t)snprintf(text, sizeof text, BASE "error_log");

    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, " x");
    expect_err(text, "t.conf:3: too many arguments (at most 63)");
}

/* --- directive errors ------------------------------------------------------------------------ */

Test(conf, unknown_directive)
{
    expect_err(BASE "foo bar\n", "t.conf:3: unknown directive \"foo\"");
    expect_err(BASE "Workers 2\n", "t.conf:3: unknown directive \"Workers\"");
}

Test(conf, long_argument_is_cut_in_messages)
{
    char text[512], want[256];
    char name[101];

    memset(name, 'x', 100);
    name[100] = '\0';
    snprintf(text, sizeof text, BASE "%s\n", name);
    snprintf(want, sizeof want, "t.conf:3: unknown directive \"%.60s...\"", name);
    expect_err(text, want);
}

Test(conf, duplicate_directive)
{
    expect_err(BASE "\nworkers 2\nworkers 3\n",
               "t.conf:5: duplicate directive \"workers\" (first at line 4)");
    expect_err(BASE "origin 127.0.0.1:81\n",
               "t.conf:3: duplicate directive \"origin\" (first at line 2)");
    expect_err(BASE "access_log off\naccess_log off\n",
               "t.conf:4: duplicate directive \"access_log\" (first at line 3)");
}

Test(conf, wrong_argument_count)
{
    expect_err(BASE "workers\n", "t.conf:3: workers: expected 1 argument, got 0");
    expect_err(BASE "workers 1 2;\n", "t.conf:3: workers: expected 1 argument, got 2");
    expect_err(BASE "listen\n", "t.conf:3: listen: expected from 1 to 2 arguments, got 0");
    expect_err(BASE "error_log\n", "t.conf:3: error_log: expected from 1 to 2 arguments, got 0");
    expect_err(BASE "error_log a info x\n",
               "t.conf:3: error_log: expected from 1 to 2 arguments, got 3");
}

Test(conf, missing_required)
{
    expect_err("", "t.conf:1: missing required directive \"listen\"");
    expect_err("# nothing\n\n\n", "t.conf:3: missing required directive \"listen\"");
    expect_err("origin 127.0.0.1:80\nworkers 1", "t.conf:2: missing required directive \"listen\"");
    expect_err("listen 8080\n\n", "t.conf:2: missing required directive \"origin\"");
}

Test(conf, workers_errors)
{
    expect_err(BASE "workers x\n",
               "t.conf:3: workers: expected a number from 1 to 256 or \"auto\", got \"x\"");
    expect_err(BASE "workers 0\n",
               "t.conf:3: workers: expected a number from 1 to 256 or \"auto\", got \"0\"");
    expect_err(BASE "workers 257\n",
               "t.conf:3: workers: expected a number from 1 to 256 or \"auto\", got \"257\"");
    expect_err(BASE "workers -1\n",
               "t.conf:3: workers: expected a number from 1 to 256 or \"auto\", got \"-1\"");
    expect_err(BASE "workers AUTO\n",
               "t.conf:3: workers: expected a number from 1 to 256 or \"auto\", got \"AUTO\"");
}

Test(conf, number_errors)
{
    expect_err(BASE "max_headers 0\n",
               "t.conf:3: max_headers: expected a number from 1 to 10000, got \"0\"");
    expect_err(BASE "max_headers 10001\n",
               "t.conf:3: max_headers: expected a number from 1 to 10000, got \"10001\"");
    expect_err(BASE "max_headers +5\n",
               "t.conf:3: max_headers: expected a number from 1 to 10000, got \"+5\"");
    expect_err(BASE "max_headers \" 5\"\n",
               "t.conf:3: max_headers: expected a number from 1 to 10000, got \" 5\"");
    expect_err(BASE "max_headers 5k\n",
               "t.conf:3: max_headers: expected a number from 1 to 10000, got \"5k\"");
    expect_err(BASE "max_headers \"\"\n",
               "t.conf:3: max_headers: expected a number from 1 to 10000, got \"\"");
    expect_err(BASE "max_headers 99999999999999999999999\n",
               "t.conf:3: max_headers: expected a number from 1 to 10000, got "
               "\"99999999999999999999999\"");
    expect_err(BASE "origin_keepalive 100001\n",
               "t.conf:3: origin_keepalive: expected a number from 0 to 100000, got \"100001\"");
    expect_err(BASE "max_connections 0\n",
               "t.conf:3: max_connections: expected a number from 1 to 1000000, got \"0\"");
    expect_err(BASE "max_connections 1000001\n",
               "t.conf:3: max_connections: expected a number from 1 to 1000000, got \"1000001\"");
}

Test(conf, size_directive_errors)
{
    expect_err(BASE "max_header_size 512\n",
               "t.conf:3: max_header_size: expected a size from 1k to 1m, got \"512\"");
    expect_err(BASE "max_header_size 1025k\n",
               "t.conf:3: max_header_size: expected a size from 1k to 1m, got \"1025k\"");
    expect_err(BASE "max_origin_header_size 2m\n",
               "t.conf:3: max_origin_header_size: expected a size from 1k to 1m, got \"2m\"");
    expect_err(BASE "max_uri_length 0\n",
               "t.conf:3: max_uri_length: expected a size from 1 to 1m, got \"0\"");
    expect_err(BASE "max_body_size 10x\n",
               "t.conf:3: max_body_size: expected a size (bytes, or with a k, m or g suffix), got "
               "\"10x\"");
    expect_err(BASE "max_body_size -1\n",
               "t.conf:3: max_body_size: expected a size (bytes, or with a k, m or g suffix), got "
               "\"-1\"");
}

Test(conf, size_directive_bounds_inclusive)
{
    struct conf *c = parse_ok(BASE "max_header_size 1024\nmax_origin_header_size 1048576\n"
                                   "max_uri_length 1\nmax_body_size 16g\n");

    cr_assert_eq(c->max_header_size, 1024);
    cr_assert_eq(c->max_origin_header_size, 1024 * 1024);
    cr_assert_eq(c->max_uri_length, 1);
    cr_assert_eq(c->max_body_size, 16ull << 30);
    conf_free(&c);
}

Test(conf, duration_directive_errors)
{
    expect_err(BASE "client_header_timeout 0\n",
               "t.conf:3: client_header_timeout: expected a duration greater than 0 (as in "
               "\"30s\" or \"500ms\"), got \"0\"");
    expect_err(BASE "drain_timeout 0ms\n",
               "t.conf:3: drain_timeout: expected a duration greater than 0 (as in "
               "\"30s\" or \"500ms\"), got \"0ms\"");
    expect_err(BASE "keepalive_timeout 5y\n",
               "t.conf:3: keepalive_timeout: expected a duration (as in \"30s\" or \"500ms\"), "
               "got \"5y\"");
    expect_err(BASE "send_timeout -5s\n",
               "t.conf:3: send_timeout: expected a duration greater than 0 (as in "
               "\"30s\" or \"500ms\"), got \"-5s\"");
}

Test(conf, every_nonzero_timeout_refuses_zero)
{
    static const char *const names[] = {"client_header_timeout", "client_body_timeout",
                                        "send_timeout",          "origin_connect_timeout",
                                        "origin_timeout",        "drain_timeout"};
    char text[256], want[512];

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(text, sizeof text, BASE "%s 0\n", names[i]);
        snprintf(want, sizeof want,
                 "t.conf:3: %s: expected a duration greater than 0 (as in \"30s\" or \"500ms\"), "
                 "got \"0\"",
                 names[i]);
        expect_err(text, want);
    }
}

Test(conf, listen_errors)
{
    char text[2048];
    size_t n = (size_t)snprintf(text, sizeof text, "origin 127.0.0.1:80\n");

    for (int i = 0; i <= CONF_MAX_LISTEN; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "listen 127.0.0.1:%d\n", 9000 + i);
    expect_err(text, "t.conf:18: listen: too many addresses (at most 16)");

    expect_err(BASE "listen 127.0.0.1:8080\nlisten 127.0.0.1:8080\n",
               "t.conf:4: listen: 127.0.0.1:8080 is already listed");
    expect_err(BASE "listen 127.0.0.1:65536\n",
               "t.conf:3: listen: \"127.0.0.1:65536\": port must be a number from 0 to 65535");
}

Test(conf, listen_unresolvable_name_is_named)
{
    const char *text = BASE "listen nosuchhost.invalid:80\n";
    const char *want = "t.conf:3: listen: cannot resolve \"nosuchhost.invalid\": ";
    struct conf *c = NULL;
    char err[256] = "";

    cr_assert_eq(conf_parse("t.conf", text, strlen(text), &c, err, sizeof err), -EINVAL);
    cr_assert_null(c);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
    cr_assert_gt(strlen(err), strlen(want));
}

Test(conf, origin_errors)
{
    expect_err("listen 1\norigin 127.0.0.1:0\n",
               "t.conf:2: origin: port 0 is not allowed, got \"127.0.0.1:0\"");
    expect_err("listen 1\norigin *:80\n",
               "t.conf:2: origin: expected the host to connect to, got \"*:80\"");
    expect_err("listen 1\norigin 80\n",
               "t.conf:2: origin: expected the host to connect to, got \"80\"");
    expect_err("listen 1\norigin [::]:80\n",
               "t.conf:2: origin: expected the host to connect to, got \"[::]:80\"");
    expect_err("listen 1\norigin 127.0.0.1\n",
               "t.conf:2: origin: \"127.0.0.1\": expected host:port, [IPv6]:port or a port");
}

Test(conf, host_header_errors)
{
    expect_err(BASE "host_header \"\"\n", "t.conf:3: host_header: expected a host name, got \"\"");
    expect_err(BASE "host_header \"a b\"\n",
               "t.conf:3: host_header: expected a host name (printable ASCII), got \"a b\"");
    expect_err(BASE "host_header \"a\tb\"\n",
               "t.conf:3: host_header: expected a host name (printable ASCII), got \"a\tb\"");
    expect_err(BASE "host_header h\xc3\xa9\n",
               "t.conf:3: host_header: expected a host name (printable ASCII), got "
               "\"h\xc3\xa9\"");
}

Test(conf, log_errors)
{
    expect_err(BASE "access_log \"\"\n",
               "t.conf:3: access_log: expected a path or \"off\", got \"\"");
    expect_err(BASE "error_log \"\"\n",
               "t.conf:3: error_log: expected a path or \"stderr\", got \"\"");
    expect_err(BASE "error_log stderr loud\n",
               "t.conf:3: error_log: expected a level (debug, info, warn or error), got \"loud\"");
    expect_err(BASE "error_log stderr INFO\n",
               "t.conf:3: error_log: expected a level (debug, info, warn or error), got \"INFO\"");
}

Test(conf, first_error_wins)
{
    expect_err(BASE "foo\nworkers 0\n", "t.conf:3: unknown directive \"foo\"");
}

/* --- error buffer ---------------------------------------------------------------------------- */

Test(conf, small_or_no_error_buffer)
{
    struct conf *c = NULL;
    char err[8];
    const char *text = BASE "foo\n";

    memset(err, 'z', sizeof err);
    cr_assert_eq(conf_parse("t.conf", text, strlen(text), &c, err, 5), -EINVAL);
    cr_assert_str_eq(err, "t.co");
    cr_assert_eq(err[5], 'z');
    cr_assert_eq(conf_parse("t.conf", text, strlen(text), &c, NULL, 0), -EINVAL);
    cr_assert_null(c);
}

Test(conf, parse_leaves_out_alone_on_error)
{
    struct conf *c = parse_ok(BASE), *keep = c;
    char err[128];

    cr_assert_eq(conf_parse("t.conf", "x", 1, &c, err, sizeof err), -EINVAL);
    cr_assert_eq(c, keep);
    conf_free(&c);
}

Test(conf, parse_does_not_read_past_len)
{
    /* The bytes past <len> would make it a different (invalid) conf. */
    const char *text = BASE "workers 2\nfoo";
    struct conf *c = NULL;
    char err[128];

    cr_assert_eq(conf_parse("t.conf", text, strlen(text) - 3, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c->workers, 2);
    conf_free(&c);
}

Test(conf, free_null_is_fine)
{
    struct conf *c = NULL;

    conf_free(&c);
    cr_assert_null(c);
}

/* --- conf_parse_size / conf_parse_duration --------------------------------------------------- */

Test(conf, sizes)
{
    static const struct {
        const char *s;
        uint64_t want;
    } ok[] = {
        {"0", 0},
        {"512", 512},
        {"512b", 512},
        {"4k", 4096},
        {"4K", 4096},
        {"4kb", 4096},
        {"4KB", 4096},
        {"4kB", 4096},
        {"256m", 256ull << 20},
        {"1g", 1ull << 30},
        {"1G", 1ull << 30},
        {"007", 7},
        {"16777215g", 16777215ull << 30},
        {"18446744073709551615", UINT64_MAX},
    };
    uint64_t v;

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v = 1234;
        cr_assert_eq(conf_parse_size(ok[i].s, &v), 0, "%s", ok[i].s);
        cr_assert_eq(v, ok[i].want, "%s", ok[i].s);
    }
}

Test(conf, size_errors)
{
    static const char *const bad[] = {
        "",
        "-1",
        "+1",
        " 1",
        "1 ",
        "k",
        "kb",
        "1.5k",
        "1kk",
        "1bb",
        "1t",
        "1x",
        "0x10k",
        "1kbx",
        "17179869184g",
        "18446744073709551616",
        "99999999999999999999k",
    };
    uint64_t v = 77;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(conf_parse_size(bad[i], &v), -EINVAL, "%s", bad[i]);
    cr_assert_eq(v, 77);
}

Test(conf, durations)
{
    static const struct {
        const char *s;
        uint64_t want;
    } ok[] = {
        {"0", 0},
        {"15", 15000},
        {"30s", 30000},
        {"500ms", 500},
        {"2m", 120000},
        {"1h", 3600000},
        {"1d", 86400000},
        {"0ms", 0},
        {"1S", 1000},
        {"10MS", 10},
        {"18446744073709551615ms", UINT64_MAX},
    };
    uint64_t v;

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v = 1234;
        cr_assert_eq(conf_parse_duration(ok[i].s, &v), 0, "%s", ok[i].s);
        cr_assert_eq(v, ok[i].want, "%s", ok[i].s);
    }
}

Test(conf, duration_errors)
{
    static const char *const bad[] = {
        "",
        "-1",
        "+1s",
        " 1s",
        "1s ",
        "s",
        "ms",
        "1.5s",
        "1sec",
        "1w",
        "1y",
        "1mss",
        "1 s",
        "18446744073709551615",
        "213503982334601d",
        "99999999999999999999ms",
    };
    uint64_t v = 77;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(conf_parse_duration(bad[i], &v), -EINVAL, "%s", bad[i]);
    cr_assert_eq(v, 77);
}

/* --- conf_parse_addr ------------------------------------------------------------------------- */

Test(conf, addr_ipv4)
{
    struct conf_addr a;
    char err[256] = "";
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.sa;

    cr_assert_eq(conf_parse_addr("127.0.0.1:8080", &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.sa.ss_family, AF_INET);
    cr_assert_eq(a.salen, sizeof(struct sockaddr_in));
    cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    cr_assert_eq(ntohs(sin->sin_port), 8080);
    cr_assert_str_eq(a.text, "127.0.0.1:8080");

    cr_assert_eq(conf_parse_addr("10.1.2.3:65535", &a, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(a.text, "10.1.2.3:65535");
}

Test(conf, addr_ipv6)
{
    struct conf_addr a;
    char err[256] = "";
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a.sa;

    cr_assert_eq(conf_parse_addr("[::1]:8080", &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.sa.ss_family, AF_INET6);
    cr_assert_eq(a.salen, sizeof(struct sockaddr_in6));
    cr_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
    cr_assert_eq(ntohs(sin6->sin6_port), 8080);
    cr_assert_str_eq(a.text, "[::1]:8080");

    cr_assert_eq(conf_parse_addr("[2001:DB8::0001]:443", &a, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(a.text, "[2001:db8::1]:443");
}

Test(conf, addr_wildcards)
{
    struct conf_addr a;
    char err[256] = "";
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.sa;

    cr_assert_eq(conf_parse_addr("*:8080", &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.sa.ss_family, AF_INET);
    cr_assert_eq(a.salen, sizeof(struct sockaddr_in));
    cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));
    cr_assert_eq(ntohs(sin->sin_port), 8080);
    cr_assert_str_eq(a.text, "0.0.0.0:8080");

    cr_assert_eq(conf_parse_addr("8080", &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));
    cr_assert_str_eq(a.text, "0.0.0.0:8080");

    cr_assert_eq(conf_parse_addr("0", &a, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(a.text, "0.0.0.0:0");
}

Test(conf, addr_name_resolves)
{
    struct conf_addr a;
    char err[256] = "";

    cr_assert_eq(conf_parse_addr("localhost:8080", &a, err, sizeof err), 0, "%s", err);
    cr_assert(a.sa.ss_family == AF_INET || a.sa.ss_family == AF_INET6);
    cr_assert_eq(port_of(&a), 8080);
    cr_assert(strcmp(a.text, "127.0.0.1:8080") == 0 || strcmp(a.text, "[::1]:8080") == 0, "%s",
              a.text);
}

Test(conf, addr_errors)
{
    static const struct {
        const char *s, *err;
    } bad[] = {
        {"", "\"\": expected host:port, [IPv6]:port or a port"},
        {"localhost", "\"localhost\": expected host:port, [IPv6]:port or a port"},
        {"-80", "\"-80\": expected host:port, [IPv6]:port or a port"},
        {"127.0.0.1:", "\"127.0.0.1:\": port must be a number from 0 to 65535"},
        {"127.0.0.1:65536", "\"127.0.0.1:65536\": port must be a number from 0 to 65535"},
        {"127.0.0.1:-1", "\"127.0.0.1:-1\": port must be a number from 0 to 65535"},
        {"127.0.0.1:+1", "\"127.0.0.1:+1\": port must be a number from 0 to 65535"},
        {"127.0.0.1:http", "\"127.0.0.1:http\": port must be a number from 0 to 65535"},
        {"127.0.0.1:99999999999999999999999",
         "\"127.0.0.1:99999999999999999999999\": port must be a number from 0 to 65535"},
        {":80", "\":80\": missing host before \":\" (\"*\" means all addresses)"},
        {"::1:80", "\"::1:80\": an IPv6 address needs brackets, as in \"[::1]:8080\""},
        {"[::1:80", "\"[::1:80\": missing \"]\" after the IPv6 address"},
        {"[::1]", "\"[::1]\": expected \":port\" after \"]\", as in \"[::1]:8080\""},
        {"[::1]80", "\"[::1]80\": expected \":port\" after \"]\", as in \"[::1]:8080\""},
        {"[]:80", "\"[]:80\": bad IPv6 address"},
        {"[127.0.0.1]:80", "\"[127.0.0.1]:80\": bad IPv6 address"},
        {"[localhost]:80", "\"[localhost]:80\": bad IPv6 address"},
    };
    struct conf_addr a;
    char err[256];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cr_assert_eq(conf_parse_addr(bad[i].s, &a, err, sizeof err), -EINVAL, "%s", bad[i].s);
        cr_assert_str_eq(err, bad[i].err);
    }
}

Test(conf, addr_unresolvable_name_is_named)
{
    struct conf_addr a;
    char err[256] = "";

    cr_assert_eq(conf_parse_addr("nosuchhost.invalid:80", &a, err, sizeof err), -EINVAL);
    cr_assert_eq(strncmp(err, "cannot resolve \"nosuchhost.invalid\": ", 37), 0, "%s", err);
    cr_assert_gt(strlen(err), 37);
}

Test(conf, addr_host_too_long)
{
    char s[400], err[256] = "";
    struct conf_addr a;

    memset(s, 'a', 300);
    snprintf(s + 300, sizeof s - 300, ":80");
    cr_assert_eq(conf_parse_addr(s, &a, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "...\": host name too long") != NULL, "%s", err);
}

/* --- conf_load ------------------------------------------------------------------------------- */

Test(conf, load_file)
{
    const char *text = BASE "workers 3\n";
    char *path = temp_file(text, strlen(text));
    struct conf *c = NULL;
    char err[256] = "";

    cr_assert_eq(conf_load(path, &c, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(c->path, path);
    cr_assert_eq(c->workers, 3);
    conf_free(&c);
    unlink(path);
    free(path);
}

Test(conf, load_file_error_names_the_path)
{
    const char *text = BASE "\nworkers x\n";
    char *path = temp_file(text, strlen(text));
    struct conf *c = NULL;
    char err[256] = "", want[256];

    cr_assert_eq(conf_load(path, &c, err, sizeof err), -EINVAL);
    cr_assert_null(c);
    snprintf(want, sizeof want,
             "%s:4: workers: expected a number from 1 to 256 or \"auto\", got \"x\"", path);
    cr_assert_str_eq(err, want);
    unlink(path);
    free(path);
}

/* The directory of cache_disk is checked where a file is loaded (accel -t, a start), with the
 * line; conf_parse() leaves the file system alone. */
Test(conf, load_checks_the_cache_disk_directory)
{
    const char *text = BASE "cache_disk /nonexistent-accel/sub/cache.mdb 64m\n";
    char *path = temp_file(text, strlen(text)), *file;
    struct conf *c = NULL;
    char err[512] = "", want[512], t2[512];

    cr_assert_eq(conf_load(path, &c, err, sizeof err), -ENOENT);
    cr_assert_null(c);
    snprintf(want, sizeof want,
             "%s:3: cache_disk: directory /nonexistent-accel/sub: No such file or directory", path);
    cr_assert_str_eq(err, want);
    unlink(path);
    free(path);

    file = temp_file("x", 1); /* a file where the directory should be */
    snprintf(t2, sizeof t2, BASE "\ncache_disk %s/cache.mdb 64m\n", file);
    path = temp_file(t2, strlen(t2));
    cr_assert_eq(conf_load(path, &c, err, sizeof err), -ENOTDIR);
    snprintf(want, sizeof want, "%s:4: cache_disk: %s is not a directory", path, file);
    cr_assert_str_eq(err, want);
    unlink(path);
    free(path);
    unlink(file);
    free(file);

    text = BASE "cache_disk /tmp/cache.mdb 64m\n";
    path = temp_file(text, strlen(text));
    cr_assert_eq(conf_load(path, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c->cache_disk_line, 3);
    conf_free(&c);
    unlink(path);
    free(path);
}

Test(conf, load_missing_file)
{
    struct conf *c = NULL;
    char err[256] = "";

    cr_assert_eq(conf_load("/nonexistent/accel.conf", &c, err, sizeof err), -ENOENT);
    cr_assert_null(c);
    cr_assert_str_eq(err, "/nonexistent/accel.conf: No such file or directory");
}

Test(conf, load_directory)
{
    struct conf *c = NULL;
    char err[256] = "";

    cr_assert_eq(conf_load("/tmp", &c, err, sizeof err), -EISDIR);
    cr_assert_null(c);
    cr_assert_str_eq(err, "/tmp: Is a directory");
}

Test(conf, load_caps_size_at_1mib)
{
    size_t cap = 1024 * 1024;
    char *text = malloc(cap + 1), *path;
    struct conf *c = NULL;
    char err[256] = "", want[256];

    cr_assert_not_null(text);
    /* Exactly 1 MiB of comments around the required lines loads; one byte more does not. */
    memset(text, '#', cap + 1);
    memcpy(text, BASE, strlen(BASE));
    path = temp_file(text, cap);
    cr_assert_eq(conf_load(path, &c, err, sizeof err), 0, "%s", err);
    conf_free(&c);
    unlink(path);
    free(path);

    path = temp_file(text, cap + 1);
    cr_assert_eq(conf_load(path, &c, err, sizeof err), -EFBIG);
    cr_assert_null(c);
    snprintf(want, sizeof want, "%s: larger than 1 MiB", path);
    cr_assert_str_eq(err, want);
    unlink(path);
    free(path);
    free(text);
}

Test(conf, cache_directives)
{
    struct conf *c = NULL;
    char err[256];
    const char *text = BASE "cache_memory 64m\nmax_object_size 2m\ndefault_ttl 30s\n"
                            "hit_for_miss_ttl 5s\ncache_set_cookie on\nignore_client_no_cache on\n"
                            "grace 1m\ncoalesce_max 7\ncoalesce_timeout 250ms\n"
                            "cache_disk \"/tmp/a b/c.mdb\" 1g\n";

    cr_assert_eq(conf_parse("t.conf", text, strlen(text), &c, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c->cache_memory, 64u << 20);
    cr_assert_eq(c->max_object_size, 2u << 20);
    cr_assert_eq(c->default_ttl, 30000);
    cr_assert_eq(c->hit_for_miss_ttl, 5000);
    cr_assert_eq(c->cache_set_cookie, 1);
    cr_assert_eq(c->ignore_client_no_cache, 1);
    cr_assert_eq(c->grace, 60000);
    cr_assert_eq(c->coalesce_max, 7);
    cr_assert_eq(c->coalesce_timeout, 250);
    cr_assert_str_eq(c->cache_disk, "/tmp/a b/c.mdb");
    cr_assert_eq(c->cache_disk_size, 1ull << 30);
    conf_free(&c);
    text = BASE;
    cr_assert_eq(conf_parse("t.conf", text, strlen(text), &c, err, sizeof(err)), 0);
    cr_assert_eq(c->cache_memory, 256u << 20, "default cache_memory");
    cr_assert_null(c->cache_disk, "memory only by default");
    conf_free(&c);
    expect_err(BASE "cache_set_cookie yes\n",
               "t.conf:3: cache_set_cookie: expected \"on\" or \"off\", got \"yes\"");
    expect_err(BASE "cache_disk /x\n", "t.conf:3: cache_disk: expected 2 arguments, got 1");
    expect_err(BASE "cache_disk /x 10k\n",
               "t.conf:3: cache_disk: expected a size of at least 1m, got \"10k\"");
    expect_err(BASE "coalesce_max 0\n",
               "t.conf:3: coalesce_max: expected a number from 1 to 1000000, got \"0\"");
}

Test(conf, gzip_directives)
{
    struct conf *c = parse_ok("listen 8080\norigin 127.0.0.1:9\n");

    cr_assert_eq(c->gzip, 1);
    cr_assert_eq(c->gzip_level, 6);
    cr_assert_eq(c->gzip_min_length, 256);
    cr_assert_not_null(strstr(c->gzip_types, "application/json"));
    conf_free(&c);
    c = parse_ok("listen 8080\norigin 127.0.0.1:9\ngzip off\ngzip_level 9\ngzip_min_length 1k\n"
                 "gzip_types text/html application/* image/svg+xml\n");
    cr_assert_eq(c->gzip, 0);
    cr_assert_eq(c->gzip_level, 9);
    cr_assert_eq(c->gzip_min_length, 1024);
    cr_assert_str_eq(c->gzip_types, "text/html application/* image/svg+xml");
    conf_free(&c);
    expect_err("listen 8080\norigin 127.0.0.1:9\ngzip_level 0\n",
               "t.conf:3: gzip_level: expected a number from 1 to 9, got \"0\"");
    expect_err("listen 8080\norigin 127.0.0.1:9\ngzip_types html\n",
               "t.conf:3: gzip_types: expected media types like text/html or text/*, got "
               "\"html\"");
    expect_err("listen 8080\norigin 127.0.0.1:9\ngzip_types text/html/x\n",
               "t.conf:3: gzip_types: expected media types like text/html or text/*, got "
               "\"text/html/x\"");
}

/* Writes <token> to a fresh file (mode 600); returns its path (free it). */
static char *token_file(const char *token)
{
    char *p = temp_file(token, strlen(token));

    chmod(p, 0600);
    return p;
}

Test(conf, admin_block)
{
    char *tf = token_file("0123456789abcdef-secret\n"), text[512];
    struct conf *c = parse_ok("listen 8080\norigin 127.0.0.1:9\n");

    cr_assert_eq(c->admin, 0, "no admin listener unless configured");
    conf_free(&c);
    snprintf(text, sizeof text,
             "listen 8080\norigin 127.0.0.1:9\nadmin {\n  listen 8082\n"
             "  token_file %s\n}\n",
             tf);
    c = parse_ok(text);
    cr_assert_eq(c->admin, 1);
    cr_assert_str_eq(c->admin_token, "0123456789abcdef-secret", "the final newline is dropped");
    cr_assert_str_eq(c->admin_listen.text, "127.0.0.1:8082", "a bare port is on the loopback");
    conf_free(&c);
    snprintf(text, sizeof text, "listen 8080\norigin 127.0.0.1:9\nadmin {\n  token_file %s\n}\n",
             tf);
    expect_err(text, "t.conf:3: admin: missing required directive \"listen\"");
    expect_err("listen 8080\norigin 127.0.0.1:9\nadmin {\n  listen 8082\n}\n",
               "t.conf:3: admin: missing required directive \"token_file\"");
    expect_err("listen 8080\norigin 127.0.0.1:9\nadmin 8082\n",
               "t.conf:3: admin: expected a \"{ ... }\" block");
    unlink(tf);
    free(tf);

    tf = token_file("short\n");
    snprintf(text, sizeof text,
             "listen 8080\norigin 127.0.0.1:9\nadmin {\n  listen 8082\n"
             "  token_file %s\n}\n",
             tf);
    {
        struct conf *bad = NULL;
        char err[512];

        cr_assert_eq(conf_parse("t.conf", text, strlen(text), &bad, err, sizeof err), -EINVAL);
        cr_assert_not_null(strstr(err, "the token is 5 bytes, at least 16 are needed"), "%s", err);
    }
    unlink(tf);
    free(tf);
}

static int allowed(const struct conf *c, const char *ip)
{
    struct sockaddr_storage ss = {0};

    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        cr_assert_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    }
    return conf_cidr_match(c->purge_allow, c->n_purge_allow, (struct sockaddr *)&ss);
}

Test(conf, purge_allow_ranges)
{
    struct conf *c = parse_ok("listen 8080\norigin 127.0.0.1:9\n");

    /* nobody by default: behind a local terminator every client is on the loopback */
    cr_assert_not(allowed(c, "127.0.0.1"), "the loopback may PURGE by default");
    cr_assert_not(allowed(c, "::1"));
    conf_free(&c);
    c = parse_ok("listen 8080\norigin 127.0.0.1:9\npurge_allow 127.0.0.0/8 ::1\n");
    cr_assert(allowed(c, "127.0.0.1"));
    cr_assert(allowed(c, "127.1.2.3"));
    cr_assert(allowed(c, "::1"));
    cr_assert(allowed(c, "::ffff:127.0.0.1"), "a mapped IPv4 loopback");
    cr_assert_not(allowed(c, "10.0.0.1"));
    cr_assert_not(allowed(c, "::2"));
    conf_free(&c);
    c = parse_ok("listen 8080\norigin 127.0.0.1:9\npurge_allow 10.1.0.0/16 192.168.1.7 fd00::/8\n");
    cr_assert(allowed(c, "10.1.255.3"));
    cr_assert_not(allowed(c, "10.2.0.1"));
    cr_assert(allowed(c, "192.168.1.7"));
    cr_assert_not(allowed(c, "192.168.1.8"));
    cr_assert(allowed(c, "fd12::1"));
    cr_assert_not(allowed(c, "127.0.0.1"), "the list replaces the default");
    conf_free(&c);
    c = parse_ok("listen 8080\norigin 127.0.0.1:9\npurge_allow 10.0.0.0/0\n");
    cr_assert(allowed(c, "8.8.8.8"), "/0 is everyone");
    conf_free(&c);
    c = parse_ok("listen 8080\norigin 127.0.0.1:9\npurge_allow none\n");
    cr_assert_not(allowed(c, "127.0.0.1"));
    conf_free(&c);
    expect_err("listen 8080\norigin 127.0.0.1:9\npurge_allow 10.0.0.0/33\n",
               "t.conf:3: purge_allow: expected address ranges like 127.0.0.1/32 or ::1/128, got "
               "\"10.0.0.0/33\"");
    expect_err("listen 8080\norigin 127.0.0.1:9\npurge_allow localhost\n",
               "t.conf:3: purge_allow: expected address ranges like 127.0.0.1/32 or ::1/128, got "
               "\"localhost\"");
}

Test(conf, cache_policy)
{
    struct conf *c = parse_ok("listen 8080\norigin 127.0.0.1:9\n");

    cr_assert_eq(c->cache_policy, 1, "s3fifo by default");
    conf_free(&c);
    c = parse_ok("listen 8080\norigin 127.0.0.1:9\ncache_policy lru\n");
    cr_assert_eq(c->cache_policy, 0);
    conf_free(&c);
    expect_err("listen 8080\norigin 127.0.0.1:9\ncache_policy arc\n",
               "t.conf:3: cache_policy: expected lru or s3fifo, got \"arc\"");
}

Test(conf, origin_as_an_http_url)
{
    struct conf *c = parse_ok("listen 8080\norigin http://127.0.0.1:9/\n");

    cr_assert_str_eq(c->upstreams[0].servers[0].addr.text, "127.0.0.1:9");
    cr_assert_str_eq(c->upstreams[0].servers[0].host, "127.0.0.1:9");
    conf_free(&c);
    c = parse_ok("listen 8080\norigin http://[::1]\n");
    cr_assert_str_eq(c->upstreams[0].servers[0].addr.text, "[::1]:80", "no port: 80");
    cr_assert_str_eq(c->upstreams[0].servers[0].host, "[::1]");
    conf_free(&c);
    c = parse_ok("listen 8080\norigin https://127.0.0.1\n");
    cr_assert_str_eq(c->upstreams[0].servers[0].addr.text, "127.0.0.1:443", "https, no port: 443");
    cr_assert_eq(c->upstreams[0].servers[0].tls, 1);
    cr_assert_str_eq(c->upstreams[0].servers[0].name, "127.0.0.1");
    conf_free(&c);
    expect_err("listen 8080\norigin http://127.0.0.1:9/app\n",
               "t.conf:2: origin: a path after the origin's host is not supported, got "
               "\"http://127.0.0.1:9/app\"");
    expect_err("listen 8080\norigin http://\n",
               "t.conf:2: origin: expected http://host[:port], got \"http://\"");
}

/* A snapshot lives as long as its last holder (a request that pinned it, say). */
Test(conf, snapshot_lives_until_its_last_reference)
{
    struct conf *c = parse_ok("listen 8080\norigin 127.0.0.1:9\n");
    const struct conf *worker = c, *req = conf_ref(worker);

    cr_assert_eq(atomic_load(&c->refs), 2);
    conf_unref(&worker);
    cr_assert_null(worker);
    cr_assert_eq(req->max_headers, 100, "the pinned snapshot is still whole");
    conf_unref(&req); /* the last one frees it (LeakSanitizer would tell otherwise) */
    cr_assert_null(req);
    conf_unref(&req); /* NULL is fine */
}

/* TLS: listeners, certificates (relative to the file), resumption, origin settings. */
Test(conf, tls_directives)
{
    struct conf *c = NULL;
    char err[512] = "";
    const char *text =
        "listen 8080\nlisten 8443 tls\norigin https://[::1]:8443\n"
        "tls_certificate a.pem a.key\ntls_certificate /etc/b.pem\n"
        "tls_min_version 1.3\ntls_session_tickets off\ntls_session_cache 0\n"
        "tls_session_timeout 10m\ntls_handshake_timeout 2s\nhttps_redirect on\n"
        "origin_tls_verify off\norigin_tls_ca ca.pem\norigin_tls_name o.test\n"
        "origin_tls_certificate c.pem c.key\ntls_ciphers ECDHE+AESGCM\ntls_ktls on\n";

    cr_assert_eq(conf_parse("/etc/accel/t.conf", text, strlen(text), &c, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(c->listen_tls, 2u, "only the second listener speaks TLS");
    cr_assert_eq(c->n_tls_certs, 2);
    cr_assert_str_eq(c->tls_certs[0].cert, "/etc/accel/a.pem");
    cr_assert_str_eq(c->tls_certs[0].key, "/etc/accel/a.key");
    cr_assert_eq(c->tls_certs[0].line, 4);
    cr_assert_str_eq(c->tls_certs[1].cert, "/etc/b.pem");
    cr_assert_str_eq(c->tls_certs[1].key, "/etc/b.pem", "the key in the certificate's file");
    cr_assert_eq(c->tls_min_version, 13);
    cr_assert_eq(c->tls_session_tickets, 0);
    cr_assert_eq(c->tls_session_cache, 0);
    cr_assert_eq(c->tls_session_timeout, 600000);
    cr_assert_eq(c->tls_handshake_timeout, 2000);
    cr_assert_eq(c->https_redirect, 1);
    cr_assert_eq(c->origin_tls_verify, 0);
    cr_assert_str_eq(c->origin_tls_ca, "/etc/accel/ca.pem");
    cr_assert_str_eq(c->origin_tls_name, "o.test");
    cr_assert_str_eq(c->origin_tls_cert.cert, "/etc/accel/c.pem");
    cr_assert_str_eq(c->tls_ciphers, "ECDHE+AESGCM");
    cr_assert_eq(c->tls_ktls, 1);
    cr_assert_eq(c->upstreams[0].servers[0].tls, 1);
    cr_assert_str_eq(c->upstreams[0].servers[0].name, "::1");
    conf_free(&c);

    c = parse_ok("listen 8080\norigin 127.0.0.1:9\n");
    cr_assert_eq(c->listen_tls, 0);
    cr_assert_eq(c->tls_min_version, 12, "default TLS 1.2 and up");
    cr_assert_eq(c->tls_session_tickets, 1);
    cr_assert_eq(c->tls_session_cache, 20480);
    cr_assert_eq(c->tls_ktls, 0, "kTLS only when asked");
    cr_assert_eq(c->tls_handshake_timeout, 10000);
    cr_assert_eq(c->origin_tls_verify, 1, "origins are verified by default");
    cr_assert_eq(c->upstreams[0].servers[0].tls, 0);
    conf_free(&c);

    expect_err("listen 8443 tls\norigin 127.0.0.1:9\n",
               "t.conf:2: a \"listen ... tls\" needs a \"tls_certificate\"");
    expect_err("listen 8443 ssl\norigin 127.0.0.1:9\n",
               "t.conf:1: listen: expected \"tls\" after the address, got \"ssl\"");
    expect_err("listen 8080\norigin 127.0.0.1:9\nhttps_redirect on\n",
               "t.conf:3: https_redirect needs a \"listen ... tls\" to redirect to");
    expect_err("listen 8080\norigin 127.0.0.1:9\ntls_min_version 1.1\n",
               "t.conf:3: tls_min_version: expected 1.2 or 1.3, got \"1.1\"");
}

/* --- upstreams, routes ------------------------------------------------------------------------ */

#include "accel/http.h" /* HTTP_GET... for the routes' method bits */

static const struct conf_upstream *upstream_named(const struct conf *c, const char *name)
{
    for (unsigned i = 0; i < c->n_upstreams; i++) {
        if (strcmp(c->upstreams[i].name, name) == 0)
            return &c->upstreams[i];
    }
    cr_assert_fail("no upstream \"%s\"", name);
    return NULL;
}

Test(conf, upstream_block)
{
    struct conf *c =
        parse_ok("listen 127.0.0.1:0\n"
                 "upstream app {\n"
                 "  server 127.0.0.1:81 weight=5 max_conns=10 max_fails=0 fail_timeout=30s\n"
                 "  server 127.0.0.1:82 backup;\n"
                 "  server [::1]:83 fail_timeout=250ms max_fails=7 backup weight=100\n"
                 "  balance least_conn\n"
                 "  check interval=2s timeout=500ms path=/health?x=1 expect=204 rise=4 fall=5\n"
                 "}\n"
                 "upstream other.1 { server 127.0.0.1:84; balance hash; }\n"
                 "upstream rr { server 127.0.0.1:85; balance round_robin; check; }\n");
    const struct conf_upstream *u = upstream_named(c, "app"), *o, *rr;
    const struct conf_server *s = u->servers;

    cr_assert_eq(c->n_upstreams, 3);
    cr_assert_eq(u, &c->upstreams[0], "in the file's order");
    cr_assert_eq(c->default_upstream, u, "no origin: the first upstream");
    cr_assert_eq(u->line, 2);
    cr_assert_eq(u->n_servers, 3);
    cr_assert_eq(u->balance, CONF_BALANCE_LEAST_CONN);
    cr_assert_str_eq(s[0].addr.text, "127.0.0.1:81");
    cr_assert_str_eq(s[0].host, "127.0.0.1:81");
    cr_assert_eq(s[0].weight, 5);
    cr_assert_eq(s[0].max_conns, 10);
    cr_assert_eq(s[0].max_fails, 0);
    cr_assert_eq(s[0].fail_timeout, 30000);
    cr_assert_eq(s[0].backup, 0);
    cr_assert_eq(s[0].line, 3);
    cr_assert_eq(s[0].idx, 0);
    /* the defaults */
    cr_assert_str_eq(s[1].addr.text, "127.0.0.1:82");
    cr_assert_eq(s[1].weight, 1);
    cr_assert_eq(s[1].max_conns, 0);
    cr_assert_eq(s[1].max_fails, 3);
    cr_assert_eq(s[1].fail_timeout, 10000);
    cr_assert_eq(s[1].backup, 1);
    cr_assert_eq(s[1].idx, 1);
    cr_assert_eq(s[1].line, 4);
    cr_assert_str_eq(s[2].addr.text, "[::1]:83");
    cr_assert_eq(s[2].weight, 100);
    cr_assert_eq(s[2].max_fails, 7);
    cr_assert_eq(s[2].fail_timeout, 250);
    cr_assert_eq(s[2].backup, 1);
    cr_assert_eq(s[2].idx, 2);
    cr_assert_eq(u->check_interval, 2000);
    cr_assert_eq(u->check_timeout, 500);
    cr_assert_str_eq(u->check_path, "/health?x=1");
    cr_assert_eq(u->check_expect, 204);
    cr_assert_eq(u->check_rise, 4);
    cr_assert_eq(u->check_fall, 5);
    cr_assert_not_null(u->rt, "its run-time state is made at load");

    o = upstream_named(c, "other.1");
    cr_assert_eq(o->balance, CONF_BALANCE_HASH);
    cr_assert_eq(o->n_servers, 1);
    cr_assert_eq(o->line, 9);
    cr_assert_eq(o->check_interval, 0, "no check line: no active checks");
    cr_assert_eq(o->check_timeout, 2000);
    cr_assert_null(o->check_path);
    cr_assert_eq(o->check_expect, 0);
    cr_assert_eq(o->check_rise, 2);
    cr_assert_eq(o->check_fall, 3);

    rr = upstream_named(c, "rr");
    cr_assert_eq(rr->balance, CONF_BALANCE_RR);
    cr_assert_eq(rr->check_interval, 5000, "a bare check: every 5s");
    cr_assert_str_eq(rr->check_path, "/");
    cr_assert_eq(rr->check_expect, 0, "any 2xx or 3xx");
    cr_assert_eq(rr->check_rise, 2);
    cr_assert_eq(rr->check_fall, 3);
    conf_free(&c);
}

Test(conf, default_upstream_is_origin_else_the_first)
{
    struct conf *c = parse_ok("listen 127.0.0.1:0\nupstream a { server 127.0.0.1:1; }\n"
                              "origin 127.0.0.1:9\nupstream b { server 127.0.0.1:2; }\n");

    cr_assert_eq(c->n_upstreams, 3);
    cr_assert_str_eq(c->upstreams[1].name, "origin");
    cr_assert_eq(c->default_upstream, &c->upstreams[1], "origin, wherever it is");
    cr_assert_eq(c->upstreams[1].n_servers, 1);
    conf_free(&c);
    c = parse_ok("listen 127.0.0.1:0\nupstream b { server 127.0.0.1:2; }\n"
                 "upstream a { server 127.0.0.1:1; }\n");
    cr_assert_str_eq(c->default_upstream->name, "b");
    cr_assert_eq(c->n_routes, 0);
    cr_assert_null(c->routes);
    conf_free(&c);
    c = parse_ok("listen 127.0.0.1:0\nupstream origin { server 127.0.0.1:2; server 127.0.0.1:3; }\n"
                 "upstream a { server 127.0.0.1:1; }\n");
    cr_assert_eq(c->default_upstream, &c->upstreams[0], "an upstream block named origin");
    cr_assert_eq(c->default_upstream->n_servers, 2);
    conf_free(&c);
}

Test(conf, route_blocks)
{
    struct conf *c =
        parse_ok(BASE "route api {\n"                       /* 3 */
                      "  host API.Example.com *.cdn.test\n" /* 4 */
                      "  host *\n"                          /* 5 */
                      "  path /api /v1\n"                   /* 6 */
                      "  method GET HEAD\n"                 /* 7 */
                      "  upstream app\n"                    /* 8 */
                      "  cache off\n"                       /* 9 */
                      "  default_ttl 5s\n"                  /* 10 */
                      "}\n"                                 /* 11 */
                      "route {\n  upstream origin\n}\n"     /* 12-14 */
                      "route static { path /s; upstream app; ignore_client_no_cache off; "
                      "max_body_size 0; }\n"                      /* 15 */
                      "upstream app { server 127.0.0.1:9001; }\n" /* after its routes */
                      "default_ttl 1m\n"
                      "ignore_client_no_cache on\n"
                      "max_body_size 2m\n");
    const struct conf_route *r = c->routes;
    const struct conf_upstream *app = upstream_named(c, "app");

    cr_assert_eq(c->n_routes, 3);
    cr_assert_eq(c->default_upstream, upstream_named(c, "origin"));
    cr_assert_eq(c->no_route_status, 421, "the default");

    cr_assert_str_eq(r[0].name, "api");
    cr_assert_eq(r[0].line, 3);
    cr_assert_eq(r[0].n_hosts, 3, "host lines add up");
    cr_assert_str_eq(r[0].hosts[0], "api.example.com", "lowercased");
    cr_assert_str_eq(r[0].hosts[1], "*.cdn.test");
    cr_assert_str_eq(r[0].hosts[2], "*");
    cr_assert_eq(r[0].n_paths, 2);
    cr_assert_str_eq(r[0].paths[0], "/api");
    cr_assert_str_eq(r[0].paths[1], "/v1");
    cr_assert_eq(r[0].methods, (1ull << HTTP_GET) | (1ull << HTTP_HEAD));
    cr_assert_eq(r[0].up, app);
    cr_assert_str_eq(r[0].name_up, "app");
    /* given by the block */
    cr_assert_eq(r[0].cache, 0);
    cr_assert_eq(r[0].default_ttl, 5000);
    /* the global ones, even those given after the block */
    cr_assert_eq(r[0].ignore_client_no_cache, 1);
    cr_assert_eq(r[0].max_body_size, 2u << 20);

    cr_assert_str_eq(r[1].name, "#2", "an unnamed route is named by its place");
    cr_assert_eq(r[1].line, 12);
    cr_assert_eq(r[1].n_hosts, 0);
    cr_assert_eq(r[1].n_paths, 0);
    cr_assert_eq(r[1].methods, 0, "any method");
    cr_assert_eq(r[1].up, c->default_upstream);
    cr_assert_eq(r[1].cache, 1, "caching unless the route says off");
    cr_assert_eq(r[1].default_ttl, 60000);
    cr_assert_eq(r[1].ignore_client_no_cache, 1);
    cr_assert_eq(r[1].max_body_size, 2u << 20);

    cr_assert_str_eq(r[2].name, "static");
    cr_assert_eq(r[2].line, 15);
    cr_assert_eq(r[2].up, app);
    cr_assert_eq(r[2].ignore_client_no_cache, 0, "off beats the global on");
    cr_assert_eq(r[2].max_body_size, 0, "unlimited");
    cr_assert_eq(r[2].default_ttl, 60000);
    cr_assert_eq(r[2].cache, 1);
    cr_assert_eq(c->max_body_size_any, 0, "one route takes any size");
    conf_free(&c);
}

Test(conf, route_settings_default_to_the_globals)
{
    struct conf *c = parse_ok(BASE "route { upstream origin; }\n");

    cr_assert_eq(c->routes[0].cache, 1);
    cr_assert_eq(c->routes[0].default_ttl, c->default_ttl);
    cr_assert_eq(c->routes[0].default_ttl, 0);
    cr_assert_eq(c->routes[0].ignore_client_no_cache, 0);
    cr_assert_eq(c->routes[0].max_body_size, 10u << 20);
    cr_assert_eq(c->max_body_size_any, 10u << 20);
    conf_free(&c);
    c = parse_ok(BASE "route a { upstream origin; default_ttl 0; ignore_client_no_cache off; }\n"
                      "default_ttl 10m\nignore_client_no_cache on\n");
    cr_assert_eq(c->routes[0].default_ttl, 0, "a route's 0 is given, not inherited");
    cr_assert_eq(c->routes[0].ignore_client_no_cache, 0);
    cr_assert_eq(c->default_ttl, 600000);
    conf_free(&c);
}

Test(conf, max_body_size_any_is_the_largest)
{
    struct conf *c = parse_ok(BASE "max_body_size 1m\n"
                                   "route a { path /a; upstream origin; max_body_size 8m; }\n"
                                   "route b { path /b; upstream origin; max_body_size 512k; }\n"
                                   "route c { upstream origin; }\n");

    cr_assert_eq(c->routes[0].max_body_size, 8u << 20);
    cr_assert_eq(c->routes[1].max_body_size, 512u << 10);
    cr_assert_eq(c->routes[2].max_body_size, 1u << 20);
    cr_assert_eq(c->max_body_size_any, 8u << 20);
    conf_free(&c);
    c = parse_ok(BASE "max_body_size 1m\nroute b { upstream origin; max_body_size 4k; }\n");
    cr_assert_eq(c->max_body_size_any, 1u << 20, "the global one when it is larger");
    conf_free(&c);
    c = parse_ok(BASE "max_body_size 3m\n");
    cr_assert_eq(c->max_body_size_any, 3u << 20, "no routes: the global one");
    conf_free(&c);
    c = parse_ok(BASE "max_body_size 0\nroute b { upstream origin; max_body_size 4k; }\n");
    cr_assert_eq(c->max_body_size_any, 0, "the global one is unlimited");
    conf_free(&c);
}

Test(conf, no_route_status)
{
    struct conf *c = parse_ok(BASE "no_route_status 404\n");

    cr_assert_eq(c->no_route_status, 404);
    conf_free(&c);
    expect_err(BASE "no_route_status 399\n",
               "t.conf:3: no_route_status: expected a number from 400 to 599, got \"399\"");
    expect_err(BASE "no_route_status 600\n",
               "t.conf:3: no_route_status: expected a number from 400 to 599, got \"600\"");
    expect_err(BASE "no_route_status 404\nno_route_status 421\n",
               "t.conf:4: duplicate directive \"no_route_status\" (first at line 3)");
}

Test(conf, upstream_errors)
{
    expect_err(BASE "upstream u {\n  server 127.0.0.1:1 slow\n}\n",
               "t.conf:4: server: unknown option \"slow\" (expected weight=N, max_conns=N, "
               "max_fails=N, fail_timeout=DURATION or backup)");
    expect_err(BASE "upstream u { server 127.0.0.1:1 weights=2; }\n",
               "t.conf:3: server: unknown option \"weights=2\" (expected weight=N, max_conns=N, "
               "max_fails=N, fail_timeout=DURATION or backup)");
    expect_err(BASE "upstream u {\n  server 127.0.0.1:1 weight=0\n}\n",
               "t.conf:4: server: weight: expected a number from 1 to 100, got \"0\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1 weight=101; }\n",
               "t.conf:3: server: weight: expected a number from 1 to 100, got \"101\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1 weight=; }\n",
               "t.conf:3: server: weight: expected a number from 1 to 100, got \"\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1 weight=2x; }\n",
               "t.conf:3: server: weight: expected a number from 1 to 100, got \"2x\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1 max_conns=-1; }\n",
               "t.conf:3: server: max_conns: expected a number from 0 to 1000000, got \"-1\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1 max_fails=1001; }\n",
               "t.conf:3: server: max_fails: expected a number from 0 to 1000, got \"1001\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1 fail_timeout=0; }\n",
               "t.conf:3: server: fail_timeout: expected a duration from 1ms to 1h, got \"0\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1 fail_timeout=2h; }\n",
               "t.conf:3: server: fail_timeout: expected a duration from 1ms to 1h, got \"2h\"");
    expect_err(BASE "upstream u { server; }\n",
               "t.conf:3: server: expected from 1 to 7 arguments, got 0");
    expect_err(BASE "upstream u { server 127.0.0.1:1; }\nupstream u { server 127.0.0.1:2; }\n",
               "t.conf:4: upstream \"u\" is already defined (at line 3)");
    expect_err(BASE "upstream origin { server 127.0.0.1:2; }\n",
               "t.conf:3: upstream \"origin\" is already defined (at line 2)");
    expect_err("listen 127.0.0.1:0\nupstream origin { server 127.0.0.1:2; }\norigin 127.0.0.1:9\n",
               "t.conf:3: upstream \"origin\" is already defined (at line 2)");
    expect_err(BASE "upstream empty {\n  balance hash\n}\n",
               "t.conf:3: upstream \"empty\": expected at least one \"server\"");
    expect_err(BASE "upstream empty {\n}\n",
               "t.conf:3: upstream \"empty\": expected at least one \"server\"");
    expect_err(BASE "upstream a/b { server 127.0.0.1:1; }\n",
               "t.conf:3: upstream: expected a name (letters, digits, '_', '-', '.'), got \"a/b\"");
    expect_err(BASE "upstream u\n", "t.conf:3: upstream: expected a \"{ ... }\" block");
    expect_err(BASE "upstream u { server 127.0.0.1:1; balance random; }\n",
               "t.conf:3: balance: expected round_robin, least_conn or hash, got \"random\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1; balance hash; balance hash; }\n",
               "t.conf:3: duplicate directive \"balance\" (first at line 3)");
    expect_err(BASE "upstream u { server 127.0.0.1:1; weight 2; }\n",
               "t.conf:3: unknown directive \"weight\"");
}

Test(conf, check_errors)
{
    expect_err(BASE "upstream u { server 127.0.0.1:1; check interval=5ms; }\n",
               "t.conf:3: check: interval: expected a duration from 10ms to 1h, got \"5ms\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1; check timeout=0; }\n",
               "t.conf:3: check: timeout: expected a duration from 1ms to 1h, got \"0\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1; check path=health; }\n",
               "t.conf:3: check: path: expected a path starting with /, got \"health\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1; check expect=600; }\n",
               "t.conf:3: check: expect: expected a status from 100 to 599, got \"600\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1; check rise=0; }\n",
               "t.conf:3: check: rise: expected a number from 1 to 100, got \"0\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1; check fall=101; }\n",
               "t.conf:3: check: fall: expected a number from 1 to 100, got \"101\"");
    expect_err(BASE "upstream u { server 127.0.0.1:1; check port=80; }\n",
               "t.conf:3: check: unknown option \"port=80\" (expected interval=, timeout=, path=, "
               "expect=, rise= or fall=)");
    expect_err(BASE "upstream u { server 127.0.0.1:1; check; check; }\n",
               "t.conf:3: duplicate directive \"check\" (first at line 3)");
}

Test(conf, route_errors)
{
    expect_err(BASE "route r { upstream nope; }\n",
               "t.conf:3: route \"r\": no upstream named \"nope\"");
    expect_err(BASE "route {\n  host a.test\n  upstream nope\n}\n",
               "t.conf:3: route \"#1\": no upstream named \"nope\"");
    expect_err(BASE "route r {\n  host a.test\n}\n",
               "t.conf:3: route \"r\": missing required directive \"upstream\"");
    expect_err(BASE "route { }\n",
               "t.conf:3: route \"#1\": missing required directive \"upstream\"");
    expect_err(BASE "route r { host a*.test; upstream origin; }\n",
               "t.conf:3: host: expected a host name, \"*.domain\" or \"*\", got \"a*.test\"");
    expect_err(BASE "route r { host *.; upstream origin; }\n",
               "t.conf:3: host: expected a host name, \"*.domain\" or \"*\", got \"*.\"");
    expect_err(BASE "route r { host *example.org; upstream origin; }\n",
               "t.conf:3: host: expected a host name, \"*.domain\" or \"*\", got \"*example.org\"");
    expect_err(BASE "route r { host *.a.*.org; upstream origin; }\n",
               "t.conf:3: host: expected a host name, \"*.domain\" or \"*\", got \"*.a.*.org\"");
    expect_err(BASE "route r {\n  host ok.test\n  host **\n  upstream origin\n}\n",
               "t.conf:5: host: expected a host name, \"*.domain\" or \"*\", got \"**\"");
    expect_err(BASE "route r { path api; upstream origin; }\n",
               "t.conf:3: path: expected a path prefix starting with /, got \"api\"");
    expect_err(BASE "route r { path /a *; upstream origin; }\n",
               "t.conf:3: path: expected a path prefix starting with /, got \"*\"");
    expect_err(BASE "route r { upstream origin; }\nroute r { upstream origin; }\n",
               "t.conf:4: route \"r\" is already defined (at line 3)");
    expect_err(BASE "route r { upstream origin; upstream origin; }\n",
               "t.conf:3: duplicate directive \"upstream\" (first at line 3)");
    expect_err(BASE "route r { upstream origin; proxy on; }\n",
               "t.conf:3: unknown directive \"proxy\"");
    expect_err(BASE "route r { upstream origin; cache yes; }\n",
               "t.conf:3: cache: expected \"on\" or \"off\", got \"yes\"");
    expect_err(BASE "route r { upstream origin; default_ttl soon; }\n",
               "t.conf:3: default_ttl: expected a duration (as in \"30s\" or \"500ms\"), got "
               "\"soon\"");
    expect_err(BASE "route r { upstream origin; max_body_size lots; }\n",
               "t.conf:3: max_body_size: expected a size (bytes, or with a k, m or g suffix), got "
               "\"lots\"");
    expect_err(BASE "route r/1 { upstream origin; }\n",
               "t.conf:3: route: expected a name (letters, digits, '_', '-', '.'), got \"r/1\"");
    expect_err(BASE "route r\n", "t.conf:3: route: expected a \"{ ... }\" block");
    expect_err(BASE "route r { upstream; }\n", "t.conf:3: upstream: expected 1 argument, got 0");
}

/* a name that is no method is an error, not an abort inside llhttp */
Test(conf, route_method_errors)
{
    expect_err(BASE "route r { method get; upstream origin; }\n",
               "t.conf:3: method: expected a method in capitals (GET, POST...), got \"get\"");
    expect_err(BASE "route r { method GET FETCH; upstream origin; }\n",
               "t.conf:3: method: expected a method in capitals (GET, POST...), got \"FETCH\"");
}

Test(conf, filters_allow_deny_in_order)
{
    struct conf *c = parse_ok(BASE "allow 10.0.0.0/8 ::1\ndeny all\n");
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

    cr_assert_eq(c->n_acl, 4, "two ranges, and all is two more");
    in.sin_addr.s_addr = htonl(0x0a010203); /* 10.1.2.3 */
    cr_assert(conf_acl_allows(c, (struct sockaddr *)&in));
    in.sin_addr.s_addr = htonl(0x0b000001); /* 11.0.0.1 */
    cr_assert_not(conf_acl_allows(c, (struct sockaddr *)&in), "deny all");
    in6.sin6_addr = in6addr_loopback;
    cr_assert(conf_acl_allows(c, (struct sockaddr *)&in6));
    in6.sin6_addr.s6_addr[0] = 0x20;
    cr_assert_not(conf_acl_allows(c, (struct sockaddr *)&in6));
    conf_free(&c);
    /* the first range that holds the address decides */
    c = parse_ok(BASE "deny 10.9.0.0/16\nallow 10.0.0.0/8\ndeny all\n");
    in.sin_addr.s_addr = htonl(0x0a090001);
    cr_assert_not(conf_acl_allows(c, (struct sockaddr *)&in));
    in.sin_addr.s_addr = htonl(0x0a080001);
    cr_assert(conf_acl_allows(c, (struct sockaddr *)&in));
    conf_free(&c);
    /* none given: everyone */
    c = parse_ok(BASE);
    cr_assert_eq(c->n_acl, 0);
    cr_assert(conf_acl_allows(c, (struct sockaddr *)&in));
    cr_assert_eq(c->deny_status, 403);
    conf_free(&c);
    expect_err(BASE "deny 300.1.1.1\n", "t.conf:3: deny: expected address ranges like "
                                        "10.0.0.0/8 or ::1/128, or all, got \"300.1.1.1\"");
    expect_err(BASE "deny_status 302\n",
               "t.conf:3: deny_status: expected a number from 400 to 599, got \"302\"");
}

Test(conf, filters_deny_method)
{
    struct conf *c = parse_ok(BASE);

    cr_assert_eq(c->deny_methods, 1ull << HTTP_TRACE, "TRACE is refused by default");
    conf_free(&c);
    c = parse_ok(BASE "deny_method DELETE PATCH\n");
    cr_assert_eq(c->deny_methods, (1ull << HTTP_DELETE) | (1ull << HTTP_PATCH),
                 "the list replaces");
    conf_free(&c);
    c = parse_ok(BASE "deny_method none\n");
    cr_assert_eq(c->deny_methods, 0);
    conf_free(&c);
    expect_err(BASE "deny_method trace\n", "t.conf:3: deny_method: expected methods in capitals "
                                           "(TRACE, DELETE...) or none, got \"trace\"");
}

Test(conf, rate_limit)
{
    struct conf *c = parse_ok(BASE);

    cr_assert_eq(c->rate_limit, 0, "no limit by default");
    conf_free(&c);
    c = parse_ok(BASE "rate_limit 20/s\n");
    cr_assert_eq(c->rate_limit, 20);
    cr_assert_eq(c->rate_burst, 20, "the burst is one second's worth by default");
    cr_assert_eq(c->rate_table, 10000);
    conf_free(&c);
    c = parse_ok(BASE "rate_limit 30/m burst=5 table=64\n");
    cr_assert_float_eq(c->rate_limit, 0.5, 1e-9);
    cr_assert_eq(c->rate_burst, 5);
    cr_assert_eq(c->rate_table, 64);
    conf_free(&c);
    c = parse_ok(BASE "rate_limit 6/m\n");
    cr_assert_eq(c->rate_burst, 1, "a rate under one a second still lets one through");
    conf_free(&c);
    c = parse_ok(BASE "rate_limit off\n");
    cr_assert_eq(c->rate_limit, 0);
    conf_free(&c);
    expect_err(BASE "rate_limit 10\n", "t.conf:3: rate_limit: expected a rate such as 10/s or "
                                       "300/m (1 to 1000000), or off, got \"10\"");
    expect_err(BASE "rate_limit 0/s\n", "t.conf:3: rate_limit: expected a rate such as 10/s or "
                                        "300/m (1 to 1000000), or off, got \"0/s\"");
    expect_err(BASE "rate_limit 10/s burst=0\n",
               "t.conf:3: rate_limit: burst: expected a number from 1 to 1000000, got \"0\"");
    expect_err(BASE "rate_limit 10/s table=x\n", "t.conf:3: rate_limit: table: expected a number "
                                                 "of addresses from 1 to 10000000, got \"x\"");
    expect_err(BASE "rate_limit 10/s slow\n",
               "t.conf:3: rate_limit: unknown option \"slow\" (expected burst= or table=)");
}
