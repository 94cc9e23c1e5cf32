/* test_trace.c - accel-bench's request traces: combined log lines as nginx, Apache and accel
 * write them, plain URL lists, malformed lines refused, and files loaded through trace_load()
 * (relative times, comments, CRLF, overlong lines, errors). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace.h"

static int parse(const char *line, struct trace_entry *e)
{
    return trace_parse_line(line, strlen(line), e);
}

/* Parses <line>, which must give <target>, <size>, Unix time <t> and <get>. */
static void check_ok(const char *line, const char *target, uint64_t size, double t, int get)
{
    struct trace_entry e;
    int rc = parse(line, &e);

    cr_assert_eq(rc, 0, "%s: %d", line, rc);
    cr_assert_str_eq(e.target, target, "%s", line);
    cr_assert_eq(e.size, size, "%s: size %llu", line, (unsigned long long)e.size);
    cr_assert_eq(e.t, t, "%s: t %.0f, want %.0f", line, e.t, t);
    cr_assert_eq(e.get, get, "%s", line);
    free(e.target);
}

static void check_bad(const char *line)
{
    struct trace_entry e = {.target = (char *)"untouched", .size = 7};

    cr_assert_eq(parse(line, &e), -EINVAL, "accepted: %s", line);
    cr_assert_str_eq(e.target, "untouched", "%s", line);
    cr_assert_eq(e.size, 7);
}

/* A temporary file holding the <len> bytes at <p>; the caller unlinks it. */
static char *tmpfile_with(const char *p, size_t len)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/test_trace.XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, p, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(trace, nginx_combined)
{
    /* nginx's default "combined" */
    check_ok("93.184.216.34 - - [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif?a=1&b=%20 "
             "HTTP/1.1\" 200 2326 \"http://www.example.com/start.html\" \"Mozilla/5.0 (X11; "
             "Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\"",
             "/apache_pb.gif?a=1&b=%20", 2326, 971211336, 1);
    check_ok("10.0.0.7 - alice [29/Feb/2024:23:59:59 +0530] \"HEAD /robots.txt HTTP/2.0\" 404 "
             "0 \"-\" \"Googlebot/2.1 (+http://www.google.com/bot.html)\"",
             "/robots.txt", 0, 1709231399, 0);
    /* nginx escapes a quote in a field as \x22 */
    check_ok("192.0.2.1 - - [01/Jan/1970:00:00:00 +0000] \"GET /x HTTP/1.1\" 304 0 \"-\" "
             "\"evil\\x22agent\"",
             "/x", 0, 0, 1);
    /* what nginx logs after $http_user_agent in a common extended format */
    check_ok("192.0.2.1 - - [31/Dec/1999:23:59:59 -1200] \"GET /y HTTP/1.1\" 200 5 \"-\" \"ua\" "
             "\"203.0.113.5\" rt=0.012 uct=\"0.000\"",
             "/y", 5, 946727999, 1);
}

Test(trace, apache_combined)
{
    check_ok("2001:db8::1 - frank [10/Oct/2000:13:55:36 -0700] \"POST /cgi-bin/form.pl "
             "HTTP/1.0\" 302 - \"http://example.com/\" \"curl/8.5.0\"",
             "/cgi-bin/form.pl", 0, 971211336, 0);
    check_ok("::1 - - [10/Oct/2000:13:55:36 -0700] \"GET /index.html HTTP/1.1\" 200 10701 \"-\" "
             "\"Mozilla/5.0 \\\"quoted\\\" (compatible)\"",
             "/index.html", 10701, 971211336, 1);
    /* Apache's common log format: no referer, no user agent */
    check_ok("127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 "
             "2326",
             "/apache_pb.gif", 2326, 971211336, 1);
    /* an HTTP/0.9 request line has no version */
    check_ok("127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /old\" 200 12 \"-\" \"-\"", "/old",
             12, 971211336, 1);
}

Test(trace, accel_access_log)
{
    /* README.md's example lines: request time, upstream status and X-Cache after the agent */
    check_ok("127.0.0.1 - - [29/Nov/2026:19:47:36 +0000] \"GET /index.html HTTP/1.1\" 200 6 \"-\" "
             "\"curl/7.88.1\" 0.001 200 MISS",
             "/index.html", 6, 1795981656, 1);
    check_ok("127.0.0.1 - - [29/Nov/2026:19:47:37 +0000] \"GET /index.html HTTP/1.1\" 200 6 \"-\" "
             "\"curl/7.88.1\" 0.000 - HIT",
             "/index.html", 6, 1795981657, 1);
    check_ok("::ffff:10.1.2.3 - - [29/Nov/2026:19:47:38 +0000] \"PURGE /a?b HTTP/1.1\" 200 0 \"-\" "
             "\"-\" 0.000 - -",
             "/a?b", 0, 1795981658, 0);
}

Test(trace, absolute_form_targets)
{
    const char *pre = "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET ";
    const char *post = " HTTP/1.1\" 200 1 \"-\" \"-\"";
    static const struct {
        const char *in, *want;
    } t[] = {
        {"http://example.com/p?q=1", "/p?q=1"},
        {"HTTP://Example.COM:8080/p", "/p"},
        {"https://user@h/a/b", "/a/b"},
        {"http://example.com", "/"},
        {"http://example.com?q", "/?q"},
        {"/p#frag", "/p"},
        {"http://h/p#frag", "/p"},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char line[256];

        snprintf(line, sizeof(line), "%s%s%s", pre, t[i].in, post);
        check_ok(line, t[i].want, 1, 971211336, 1);
    }
}

Test(trace, plain_lines)
{
    check_ok("/path", "/path", 0, 0, 1);
    check_ok("/path?x=1 1234", "/path?x=1", 1234, 0, 1);
    check_ok("http://host/path 1234", "/path", 1234, 0, 1);
    check_ok("https://host:8443/a?b=c\t99", "/a?b=c", 99, 0, 1);
    check_ok("http://host", "/", 0, 0, 1);
    check_ok("  /lead-and-trail   \r", "/lead-and-trail", 0, 0, 1);
    check_ok("/big 18446744073709551615", "/big", UINT64_MAX, 0, 1);
    check_ok("/dash -", "/dash", 0, 0, 1);
}

Test(trace, malformed_lines)
{
    static const char *const bad[] = {
        "",
        "   ",
        "garbage",
        "ftp://host/file",
        "httpx://host/file",
        "/a b",
        "/a 12x",
        "/a 12 13",
        "/big 18446744073709551616",
        "/ctl\x01x",
        /* no quotes */
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] GET / HTTP/1.1 200 1 \"-\" \"-\"",
        /* bad dates */
        "1.2.3.4 - - [32/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Foo/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [29/Feb/2023:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [31/Apr/2023:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:24:00:00 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:60:00 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -07:00] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [1/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [2000-10-10T13:55:36+00:00] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        /* methods that are not tokens: nginx logs TLS or garbage sent to a plain port so */
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"\\x16\\x03\\x01\\x02\\x00\" 400 157 \"-\" "
        "\"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"G(T / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"-\" 400 0 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"\" 400 0 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \" / HTTP/1.1\" 200 1 \"-\" \"-\"",
        /* targets */
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET foo HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"CONNECT h:443 HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"OPTIONS * HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /a b HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET  /a HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /a\\\" HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /a FTP/1.0\" 200 1 \"-\" \"-\"",
        /* status and size */
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 20 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" OK 1 \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1k \"-\" \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 \"-\" \"-\"",
        /* what comes after */
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 - -",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\"",
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"x",
        /* fields missing before the date */
        "1.2.3.4 [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "1.2.3.4 - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
        "[10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_bad(bad[i]);
}

/* Every cut of a good line is refused, but those that leave a complete common log format line
 * (cut within or right after the size) or a complete combined one (cut after the user agent). */
Test(trace, truncated_lines)
{
    const char *line = "203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] \"GET /a/b?c=d HTTP/1.1\" "
                       "200 2326 \"http://example.com/\" \"Mozilla/5.0 (X11)\" 0.004 200 MISS";
    size_t size_at = (size_t)(strstr(line, " 2326 ") - line) + 1, size_end = size_at + 4;
    size_t ua_end = (size_t)(strstr(line, " 0.004") - line);

    for (size_t k = 0; k < strlen(line); k++) {
        struct trace_entry e;
        int rc = trace_parse_line(line, k, &e);

        if ((k > size_at && k <= size_end + 1) || k >= ua_end) {
            cr_assert_eq(rc, 0, "cut at %zu: %.*s", k, (int)k, line);
            free(e.target);
        } else {
            cr_assert_eq(rc, -EINVAL, "cut at %zu accepted: %.*s", k, (int)k, line);
        }
    }
}

Test(trace, length_not_nul)
{
    const char line[] = "/a 12\0/b 34";
    struct trace_entry e;

    cr_assert_eq(trace_parse_line(line, 5, &e), 0);
    cr_assert_str_eq(e.target, "/a");
    cr_assert_eq(e.size, 12);
    free(e.target);
    cr_assert_eq(trace_parse_line(line, sizeof(line) - 1, &e), -EINVAL, "a NUL inside the line");
}

Test(trace, load_round_trip)
{
    const char text[] =
        "# a trace\n"
        "\n"
        "127.0.0.1 - - [29/Nov/2026:19:47:36 +0000] \"GET /index.html HTTP/1.1\" 200 6 \"-\" "
        "\"curl/7.88.1\" 0.001 200 MISS\n"
        "127.0.0.1 - - [29/Nov/2026:19:47:37 +0000] \"GET /index.html HTTP/1.1\" 200 6 \"-\" "
        "\"curl/7.88.1\" 0.000 - HIT\r\n"
        "   \t \n"
        "  # indented comment\n"
        "this line is malformed\n"
        "2001:db8::2 - - [29/Nov/2026:20:47:36 +0100] \"POST /form HTTP/1.1\" 201 - \"-\" \"x\"\n"
        "127.0.0.1 - - [29/Nov/2026:19:48:36 +0000] \"GET http://h/abs?x=1 HTTP/1.1\" 200 77 \"-\" "
        "\"y\"\n"
        "127.0.0.1 - - [29/Nov/2026:19:47:30 +0000] \"GET /early HTTP/1.1\" 200 1 \"-\" \"y\"\n"
        "/plain 4096\n"
        "1.2.3.4 - - [29/Nov/2026:19:47:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\n"
        "/last-without-newline 5";
    char *path = tmpfile_with(text, sizeof(text) - 1), err[256] = "";
    struct trace t;
    int rc = trace_load(path, &t, err, sizeof(err));

    unlink(path);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(t.lines, 13);
    cr_assert_eq(t.skipped, 2, "the malformed line and the truncated one");
    cr_assert_eq(t.n, 7);
    cr_assert_str_eq(t.v[0].target, "/index.html");
    cr_assert_eq(t.v[0].t, 0);
    cr_assert_eq(t.v[0].size, 6);
    cr_assert_eq(t.v[1].t, 1, "CRLF line");
    cr_assert_str_eq(t.v[2].target, "/form");
    cr_assert_eq(t.v[2].t, 0, "20:47:36 +0100 is 19:47:36 UTC");
    cr_assert_eq(t.v[2].get, 0);
    cr_assert_str_eq(t.v[3].target, "/abs?x=1");
    cr_assert_eq(t.v[3].t, 60);
    cr_assert_eq(t.v[3].size, 77);
    cr_assert_str_eq(t.v[4].target, "/early");
    cr_assert_eq(t.v[4].t, 0, "before the first entry: 0, never negative");
    cr_assert_str_eq(t.v[5].target, "/plain");
    cr_assert_eq(t.v[5].size, 4096);
    cr_assert_eq(t.v[5].t, 0);
    cr_assert_eq(t.v[5].get, 1);
    cr_assert_str_eq(t.v[6].target, "/last-without-newline");
    cr_assert_eq(t.v[6].size, 5);
    trace_free(&t);
    cr_assert_eq(t.n, 0);
    cr_assert_null(t.v);
    trace_free(&t); /* twice is harmless */
}

Test(trace, plain_list_times_are_zero)
{
    const char text[] = "/a\n/b 10\nhttp://h/c 20\n";
    char *path = tmpfile_with(text, sizeof(text) - 1), err[256] = "";
    struct trace t;

    cr_assert_eq(trace_load(path, &t, err, sizeof(err)), 0, "%s", err);
    unlink(path);
    cr_assert_eq(t.n, 3);
    for (size_t i = 0; i < t.n; i++) {
        cr_assert_eq(t.v[i].t, 0);
        cr_assert_eq(t.v[i].get, 1);
    }
    cr_assert_str_eq(t.v[2].target, "/c");
    trace_free(&t);
}

/* Lines longer than 64 KiB are skipped, whether they fit in the read buffer or not; a line of
 * exactly 64 KiB is taken. Many short lines around them cross buffer refills. */
Test(trace, long_lines_and_many_lines)
{
    const size_t max = 64 * 1024, huge = 1000000, nshort = 200000;
    size_t cap = 2 * max + huge + nshort * 32 + 64, len = 0;
    char *text = malloc(cap), *path, err[256] = "";
    struct trace t;

    cr_assert_not_null(text);
    /* exactly 64 KiB: "/aaaa...a" */
    text[len++] = '/';
    memset(text + len, 'a', max - 1);
    len += max - 1;
    text[len++] = '\n';
    /* 64 KiB + 1 */
    text[len++] = '/';
    memset(text + len, 'b', max);
    len += max;
    text[len++] = '\n';
    for (size_t i = 0; i < nshort; i++) {
        if (i == nshort / 2) { /* far longer than the read buffer */
            text[len++] = '/';
            memset(text + len, 'c', huge);
            len += huge;
            text[len++] = '\n';
        }
        len += (size_t)snprintf(text + len, cap - len, "/item/%zu %zu\n", i, i);
    }
    path = tmpfile_with(text, len);
    free(text);

    cr_assert_eq(trace_load(path, &t, err, sizeof(err)), 0, "%s", err);
    unlink(path);
    cr_assert_eq(t.lines, nshort + 3);
    cr_assert_eq(t.skipped, 2);
    cr_assert_eq(t.n, nshort + 1);
    cr_assert_eq(strlen(t.v[0].target), max);
    for (size_t i = 0; i < nshort; i++) {
        char want[32];

        snprintf(want, sizeof(want), "/item/%zu", i);
        cr_assert_str_eq(t.v[i + 1].target, want);
        cr_assert_eq(t.v[i + 1].size, i);
    }
    trace_free(&t);
}

Test(trace, load_errors)
{
    char err[256] = "", *path;
    const char *text;
    struct trace t;
    int rc;

    rc = trace_load("/nonexistent/dir/trace.log", &t, err, sizeof(err));
    cr_assert_eq(rc, -ENOENT);
    cr_assert(strstr(err, "/nonexistent/dir/trace.log") != NULL, "%s", err);
    cr_assert(strstr(err, "No such file") != NULL, "%s", err);
    cr_assert_eq(t.n, 0);
    cr_assert_null(t.v);

    err[0] = '\0';
    rc = trace_load("/tmp", &t, err, sizeof(err));
    cr_assert_eq(rc, -EISDIR, "a directory: %d %s", rc, err);
    cr_assert(strstr(err, "/tmp") != NULL, "%s", err);

    text = "# only comments\n\nnot a request\nftp://x/y\n";
    path = tmpfile_with(text, strlen(text));
    err[0] = '\0';
    rc = trace_load(path, &t, err, sizeof(err));
    unlink(path);
    cr_assert_eq(rc, -EINVAL);
    cr_assert(strstr(err, "no usable line") != NULL, "%s", err);
    cr_assert(strstr(err, "4 lines, 2 malformed") != NULL, "%s", err);
    cr_assert_eq(t.n, 0);
    cr_assert_null(t.v);
    cr_assert_eq(t.lines, 4, "the counts stay for the caller's message");
    cr_assert_eq(t.skipped, 2);

    path = tmpfile_with("", 0);
    rc = trace_load(path, &t, err, sizeof(err));
    unlink(path);
    cr_assert_eq(rc, -EINVAL, "an empty file");
    cr_assert(strstr(err, "no usable line") != NULL, "%s", err);
}
