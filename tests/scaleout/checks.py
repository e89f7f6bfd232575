#!/usr/bin/env python3
"""Consistency checks across api instances, for tests/scaleout/run.sh (Python 3 stdlib only).

    checks.py probe       URL [URL ...]   a short concurrent burst; fails on any 5xx
    checks.py ifmatch     URL [URL ...]   concurrent read-ETag-then-PATCH-with-If-Match
    checks.py idempotency URL [URL ...]   Idempotency-Key across instances (skips if unsupported)

Each prints one result line starting with "ok:", "skipped:" or "FAIL:" and exits 0 unless it
failed. Every request alternates between the instances, so two requests of one client are
served by different processes sharing only the database.
"""

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse
import uuid

TIMEOUT_S = 10.0


class Client:
    """One keep-alive connection per instance."""

    def __init__(self, urls):
        self.targets = [urllib.parse.urlsplit(u) for u in urls]
        self.conns = [None] * len(self.targets)

    def request(self, i, method, path, body=None, headers=None):
        """(status, headers dict with lower-case names, body bytes) from instance i."""
        i %= len(self.targets)
        hdrs = {"Accept": "application/json"}
        if body is not None:
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in (1, 2):
            conn = self.conns[i]
            if conn is None:
                t = self.targets[i]
                conn = http.client.HTTPConnection(t.hostname, t.port, timeout=TIMEOUT_S)
                self.conns[i] = conn
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed between requests: reconnect
                # once. Only safe for requests that were never sent, which is the case here
                # (these errors come before any response); a timeout is not retried.
                conn.close()
                self.conns[i] = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        for c in self.conns:
            if c is not None:
                c.close()


def run_threads(n, target):
    """Runs target(index) on n threads started together; returns exceptions raised."""
    errors = []
    barrier = threading.Barrier(n)

    def wrap(i):
        try:
            barrier.wait()
            target(i)
        except Exception as e:  # reported, not swallowed
            errors.append(f"thread {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def item_count(client, name):
    status, _, body = client.request(0, "GET", "/items/?" + urllib.parse.urlencode(
        {"name": name, "count": "exact", "page_size": 1}))
    if status != 200:
        raise RuntimeError(f"GET /items/?name=... answered {status}: {body[:200]!r}")
    return json.loads(body)["count"]


def probe(urls, threads=8, per_thread=30):
    """Create, read and list from several clients at once; any 5xx or transport error fails.
    Used to tell whether a connection path (e.g. pgbouncer in transaction mode) works."""
    lock = threading.Lock()
    bad = []
    done = [0]

    def client_loop(i):
        c = Client(urls)
        try:
            for k in range(per_thread):
                body = {"name": f"probe-{i}-{k}", "description": "", "price": 1}
                s, h, b = c.request(i + k, "POST", "/items/", body)
                if s != 201:
                    with lock:
                        bad.append(f"POST {s} {b[:160]!r}")
                    continue
                item = json.loads(b)["id"]
                for j, path in enumerate((f"/items/{item}", "/items/?page_size=5")):
                    s, h, b = c.request(i + k + j + 1, "GET", path)
                    if s != 200:
                        with lock:
                            bad.append(f"GET {path} {s} {b[:160]!r}")
                s, h, b = c.request(i + k, "DELETE", f"/items/{item}")
                if s != 204:
                    with lock:
                        bad.append(f"DELETE {s} {b[:160]!r}")
                with lock:
                    done[0] += 1
        finally:
            c.close()

    errors = run_threads(threads, client_loop)
    if errors or bad:
        first = (errors + bad)[0]
        print(f"FAIL: probe: {len(bad)} bad responses, {len(errors)} client errors; first: {first}")
        return 1
    print(f"ok: probe: {done[0]} create/read/list/delete rounds over {len(urls)} instances, no error")
    return 0


def ifmatch(urls, threads=8, increments=12, deadline_s=60.0):
    """N clients each make `increments` successful read-ETag-then-PATCH(price+1, If-Match)
    updates of one item, every request going to the other instance than the last one,
    retrying on 412. Optimistic concurrency holds across instances if the final price equals
    the number of 200s."""
    c = Client(urls)
    s, _, b = c.request(0, "POST", "/items/", {
        "name": f"ifmatch-{uuid.uuid4().hex[:12]}", "description": "If-Match check", "price": 0})
    if s != 201:
        print(f"FAIL: if-match: creating the item answered {s}: {b[:200]!r}")
        return 1
    item = json.loads(b)["id"]
    path = f"/items/{item}"
    lock = threading.Lock()
    counts = {"ok": 0, "412": 0, "other": []}
    stop_at = time.monotonic() + deadline_s

    def client_loop(i):
        cl = Client(urls)
        turn = i
        mine = 0
        try:
            while mine < increments:
                if time.monotonic() > stop_at:
                    raise TimeoutError(f"only {mine} of {increments} increments before the deadline")
                s, h, b = cl.request(turn, "GET", path)
                turn += 1
                if s != 200 or "etag" not in h:
                    with lock:
                        counts["other"].append(f"GET {s} etag={h.get('etag')!r}")
                    continue
                price = json.loads(b)["price"]
                s, h, b = cl.request(turn, "PATCH", path, {"price": price + 1},
                                     {"If-Match": h["etag"]})
                turn += 1
                with lock:
                    if s == 200:
                        counts["ok"] += 1
                        mine += 1
                    elif s == 412:
                        counts["412"] += 1
                    else:
                        counts["other"].append(f"PATCH {s} {b[:160]!r}")
        finally:
            cl.close()

    errors = run_threads(threads, client_loop)
    s, _, b = c.request(1, "GET", path)
    c.close()
    final = json.loads(b)["price"] if s == 200 else None
    summary = (f"final price {final} vs {counts['ok']} successful PATCHes "
               f"({counts['412']} answered 412 and were retried), {threads} clients over "
               f"{len(urls)} instances")
    if errors or counts["other"] or s != 200 or final != counts["ok"] \
            or counts["ok"] != threads * increments:
        first = (errors + counts["other"] + [""])[0]
        print(f"FAIL: if-match: {summary}; {first}")
        return 1
    print(f"ok: if-match: {summary}")
    return 0


def idempotency(urls, threads=16):
    """Idempotency-Key across instances. First a detection step: the same key and body sent
    twice, one after the other, to two instances; if that made two rows, this build does not
    support the header and the check is skipped. Then `threads` concurrent POSTs with one
    new key spread over all instances: exactly one row, every answer 201 or 409, the 201s
    identical; a later retry is replayed (Idempotent-Replayed: true); same key with another
    body is 422."""
    c = Client(urls)
    try:
        key = f"scaleout-detect-{uuid.uuid4().hex}"
        name = f"idem-{key[-16:]}"
        body = {"name": name, "description": "idempotency detection", "price": 1}
        first = c.request(0, "POST", "/items/", body, {"Idempotency-Key": key})
        second = c.request(1, "POST", "/items/", body, {"Idempotency-Key": key})
        rows = item_count(c, name)
        if first[0] != 201:
            print(f"FAIL: idempotency: first POST answered {first[0]}: {first[2][:200]!r}")
            return 1
        if rows >= 2 and second[0] == 201 and second[1].get("idempotent-replayed") != "true":
            print("skipped: idempotency keys: not supported by this build "
                  "(a retry with the same key created a second row)")
            return 0
        if rows != 1 or second[0] != 201 or second[1].get("idempotent-replayed") != "true" \
                or json.loads(second[2]) != json.loads(first[2]):
            print(f"FAIL: idempotency: sequential retry on the other instance: {rows} rows, "
                  f"answer {second[0]}, Idempotent-Replayed={second[1].get('idempotent-replayed')!r}")
            return 1

        key = f"scaleout-{uuid.uuid4().hex}"
        name = f"idem-{key[-16:]}"
        body = {"name": name, "description": "idempotency under concurrency", "price": 2}
        results = [None] * threads

        def post(i):
            cl = Client(urls)
            try:
                results[i] = cl.request(i, "POST", "/items/", body, {"Idempotency-Key": key})
            finally:
                cl.close()

        errors = run_threads(threads, post)
        if errors:
            print(f"FAIL: idempotency: {errors[0]}")
            return 1
        statuses = sorted(r[0] for r in results)
        created = [r for r in results if r[0] == 201]
        rows = item_count(c, name)
        bodies = {json.dumps(json.loads(r[2]), sort_keys=True) for r in created}
        locations = {r[1].get("location", "").rsplit("/items/", 1)[-1] for r in created}
        problems = []
        if rows != 1:
            problems.append(f"{rows} rows for one key")
        if any(s not in (201, 409) for s in statuses):
            problems.append(f"statuses {statuses} (only 201 and 409 allowed)")
        if not created:
            problems.append("no 201 at all")
        if len(bodies) > 1 or len(locations) > 1:
            problems.append(f"the 201 answers differ ({len(bodies)} bodies, {len(locations)} locations)")
        retry = c.request(1, "POST", "/items/", body, {"Idempotency-Key": key})
        if retry[0] != 201 or retry[1].get("idempotent-replayed") != "true" or (
                bodies and json.dumps(json.loads(retry[2]), sort_keys=True) not in bodies):
            problems.append(f"a later retry answered {retry[0]} "
                            f"(Idempotent-Replayed={retry[1].get('idempotent-replayed')!r})")
        other = c.request(0, "POST", "/items/", dict(body, price=3), {"Idempotency-Key": key})
        if other[0] != 422:
            problems.append(f"same key with another body answered {other[0]}, not 422")
        if item_count(c, name) != 1:
            problems.append("the retries created rows")
        n201, n409 = statuses.count(201), statuses.count(409)
        summary = (f"{threads} concurrent POSTs with one key over {len(urls)} instances: "
                   f"{n201} x 201 (identical), {n409} x 409, {rows} row; retry replayed, "
                   f"other body 422")
        if problems:
            print(f"FAIL: idempotency: {'; '.join(problems)} (statuses {statuses})")
            return 1
        print(f"ok: idempotency: {summary}")
        return 0
    finally:
        c.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=["probe", "ifmatch", "idempotency"])
    parser.add_argument("urls", nargs="+", help="base URLs of the instances")
    args = parser.parse_args()
    urls = [u.rstrip("/") for u in args.urls]
    try:
        if args.check == "probe":
            return probe(urls)
        if args.check == "ifmatch":
            return ifmatch(urls)
        return idempotency(urls)
    except Exception as e:  # one clear line rather than a traceback in the CI log
        print(f"FAIL: {args.check}: {type(e).__name__}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
