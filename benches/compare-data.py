#!/usr/bin/env python3
"""A scrape target serving the data shape of Prometheus's PromQL benchmarks (bench_test.go): a_X, b_X and the
classic histogram h_X for X in one (1 series), ten (l=0..9) and hundred (l=0..99), with every sample stamped with
the current 10-second grid point and a value that is a pure function of that time. Two servers scraping it every
10 s therefore store exactly the same samples, which lets promql-compare.py compare their query results exactly.

    compare-data.py PORT [DELAY]

With DELAY (seconds), series are served only from the first grid point DELAY seconds after start, so servers
started at slightly different times still begin with the same sample.
"""
import http.server
import sys
import time

SIZES = {"one": 1, "ten": 10, "hundred": 100}


def body(t_ms):
    k = t_ms // 10_000  # grid index
    out = []
    for name, n in SIZES.items():
        for l in range(n):
            lbl = "" if n == 1 else 'l="%d"' % l
            sel = "{%s}" % lbl if lbl else ""
            # a_X: a counter with a reset every 37 steps; b_X: a gauge that moves both ways.
            a = (k % 37) * (l + 1) + (k // 37) % 3
            b = ((k * 7 + l * 3) % 23) - 11.5
            out.append("a_%s%s %d %d" % (name, sel, a, t_ms))
            out.append("b_%s%s %g %d" % (name, sel, b, t_ms))
            for i, le in enumerate([str(x) for x in range(10)] + ["+Inf"]):
                hl = ('%s,le="%s"' % (lbl, le)) if lbl else 'le="%s"' % le
                c = k * (i + 1) * (l + 1) // 3 + i
                out.append("h_%s{%s} %d %d" % (name, hl, c, t_ms))
    return ("\n".join(out) + "\n").encode()


START_MS = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        t_ms = int(time.time() // 10) * 10_000
        data = body(t_ms) if t_ms >= START_MS else b""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if len(sys.argv) > 2:
        START_MS = (int((time.time() + float(sys.argv[2])) // 10) + 1) * 10_000
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
