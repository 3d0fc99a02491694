"""Before/after probes of issue 8 against a thunderhead binary. Usage: probe.py BINARY"""
import asyncio, json, os, socket, subprocess, sys, tempfile, time, base64

BIN = sys.argv[1]
PW = "correct horse battery"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

class Server:
    def __init__(self, env, listen="127.0.0.1"):
        self.dir = tempfile.mkdtemp()
        self.port = free_port()
        self.host = "127.0.0.1"
        base = {"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite://{self.dir}/t.db",
                "RUST_LOG": "warn", "THUNDERHEAD_KEY_FILE": f"{self.dir}/k.pem"}
        base.update(env)
        self.env = base
        bind = f"[::]:{self.port}" if listen == "::" else f"127.0.0.1:{self.port}"
        self.log = open(f"{self.dir}/log", "w")
        self.p = subprocess.Popen([BIN, "serve", "--listen", bind], env=base, stdout=self.log, stderr=self.log)
        for _ in range(100):
            if self.p.poll() is not None:
                raise RuntimeError(f"server exited {self.p.returncode} at start")
            try:
                socket.create_connection((self.host, self.port), 0.1).close(); break
            except OSError:
                time.sleep(0.1)
    def user(self, name, staff=False):
        args = [BIN, "user", "create", "--username", name, "--email", f"{name}@example.com"] + (["--staff"] if staff else [])
        r = subprocess.run(args, env=self.env, input=PW + "\n", text=True, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"user create exited {r.returncode}: {r.stderr.strip().splitlines()[-3:]}")
    def stop(self):
        self.p.kill(); self.p.wait()

async def request(srv, method, path, body=None, headers=None, raw_body=None, timeout=30):
    r, w = await asyncio.open_connection(srv.host, srv.port)
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
    h = {"Host": "x", "Connection": "close", "Content-Length": str(len(data))}
    if body is not None: h["Content-Type"] = "application/json"
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    w.write(head.encode() + data); await w.drain()
    try:
        resp = await asyncio.wait_for(r.read(), timeout)
    except asyncio.TimeoutError:
        return 0, {}, None
    finally:
        w.close()
    text = resp.decode(errors="replace")
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else 0
    head, _, payload = text.partition("\r\n\r\n")
    hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in head.split("\r\n")[1:] if ":" in l}
    try: js = json.loads(payload)
    except Exception: js = payload
    return status, hdrs, js

def tally(results):
    out = {}
    for s, _, _ in results: out[s] = out.get(s, 0) + 1
    return dict(sorted(out.items()))

async def concurrent(n, make):
    return await asyncio.gather(*(make(i) for i in range(n)))

async def main():
    report = {}
    S = {}
    async def step1():
        s = S.get('s')
        # 1. 80 wrong passwords at once from one IP, limit 10/15 min.
        s = Server({"THUNDERHEAD_RATE_LIMIT_GENERAL": "off", "THUNDERHEAD_RATE_LIMIT_LOGIN": "off"}); S['s'] = s; s.user("alice")
        res = await concurrent(80, lambda i: request(s, "POST", "/api/user/session", {"username": "alice", "password": "wrong"}))
        report["80 wrong at once, one IP (limit 10)"] = tally(res); s.stop()
    try:
        await step1()
    except Exception as e:
        report['1. 80 wrong passwords at once from one IP, limit 10/15 min.'] = f'ERROR: {e}'
    async def step2():
        s = S.get('s')
        # 2. 200 at once from 10 IPs, one account.
        s = Server({"THUNDERHEAD_RATE_LIMIT_GENERAL": "off", "THUNDERHEAD_RATE_LIMIT_LOGIN": "off", "THUNDERHEAD_TRUSTED_PROXIES": "127.0.0.1"}); S['s'] = s; s.user("alice")
        res = await concurrent(200, lambda i: request(s, "POST", "/api/user/session", {"username": "alice", "password": "wrong"}, {"X-Forwarded-For": f"198.51.100.{i % 10 + 1}"}))
        report["200 wrong at once, 10 IPs, one account (limit 10)"] = tally(res); s.stop()
    try:
        await step2()
    except Exception as e:
        report['2. 200 at once from 10 IPs, one account.'] = f'ERROR: {e}'
    async def step3():
        s = S.get('s')
        # 3. 10 correct logins at once, one IP, 1/min.
        s = Server({"THUNDERHEAD_RATE_LIMIT_GENERAL": "off"}); S['s'] = s; s.user("alice")
        res = await concurrent(10, lambda i: request(s, "POST", "/api/user/session", {"username": "alice", "password": PW}))
        report["10 correct logins at once (limit 1/min)"] = tally(res)
    try:
        await step3()
    except Exception as e:
        report['3. 10 correct logins at once, one IP, 1/min.'] = f'ERROR: {e}'
    async def step4():
        s = S.get('s')
        # 4. 5 sign-ups at once.
        res = await concurrent(5, lambda i: request(s, "POST", "/api/user", {"username": f"u{i}", "email": f"u{i}@e.com", "password": "p", "repeatPassword": "p"}))
        report["5 sign-ups at once (limit 1/30 min)"] = tally(res); s.stop()
    try:
        await step4()
    except Exception as e:
        report['4. 5 sign-ups at once.'] = f'ERROR: {e}'
    async def step5():
        s = S.get('s')
        # 5. Login flood: 700 wrong passwords, every limit out of the way, and a real user.
        s = Server({"THUNDERHEAD_RATE_LIMITS": "off", "THUNDERHEAD_HASH_THREADS": "1"}); S['s'] = s; s.user("alice")
        async def real():
            await asyncio.sleep(0.5); t = time.time()
            st, _, _ = await request(s, "POST", "/api/user/session", {"username": "alice", "password": PW})
            return st, round(time.time() - t, 2)
        t0 = time.time()
        flood, real_result = await asyncio.gather(
            concurrent(700, lambda i: request(s, "POST", "/api/user/session", {"username": "alice", "password": "wrong"})), real())
        report["700-login flood"] = {"statuses": tally(flood), "seconds": round(time.time() - t0, 1), "real user (status, s)": real_result}
        s.stop()
    try:
        await step5()
    except Exception as e:
        report['5. Login flood: 700 wrong passwords, every limit out of the way, and a real user.'] = f'ERROR: {e}'
    async def step6():
        s = S.get('s')
        # 6/7. Slowloris: 200 half-sent headers; how many still open after 15 s?
        s = Server({}); S['s'] = s
        conns = []
        for _ in range(200):
            r, w = await asyncio.open_connection(s.host, s.port)
            w.write(b"GET /api HTTP/1.1\r\nHost: x\r\nX-a: "); await w.drain(); conns.append((r, w))
        t0 = time.time()
        async def closed_at(r):
            try:
                await asyncio.wait_for(r.read(), 20)
                return round(time.time() - t0, 1)
            except asyncio.TimeoutError:
                return None
        times = await asyncio.gather(*(closed_at(r) for r, _ in conns))
        still = sum(1 for t in times if t is None)
        report["200 half-sent headers"] = {"still open after 20 s": still, "closed after (s, max)": max([t for t in times if t] or [0])}
        for _, w in conns: w.close()
    try:
        await step6()
    except Exception as e:
        report['6/7. Slowloris: 200 half-sent headers; how many still open after 15 s?'] = f'ERROR: {e}'
    async def step7():
        s = S.get('s')
        # 8. Body trickled at 1 byte/s.
        r, w = await asyncio.open_connection(s.host, s.port)
        w.write(b"POST /api/user/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); await w.drain()
        t0 = time.time()
        async def trickle():
            for _ in range(30):
                await asyncio.sleep(1)
                try: w.write(b" "); await w.drain()
                except Exception: return
        tr = asyncio.ensure_future(trickle())
        try: data = await asyncio.wait_for(r.read(), 30)
        except asyncio.TimeoutError: data = b""
        tr.cancel()
        first = data.split(b"\r\n", 1)[0].decode(errors="replace")
        report["body trickled at 1 byte/s"] = {"answer": first, "after s": round(time.time() - t0, 1)}
    try:
        await step7()
    except Exception as e:
        report['8. Body trickled at 1 byte/s.'] = f'ERROR: {e}'
    async def step8():
        s = S.get('s')
        # 9. Truncated body.
        r, w = await asyncio.open_connection(s.host, s.port)
        w.write(b"POST /api/user/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"u\":"); await w.drain(); w.write_eof()
        data = await asyncio.wait_for(r.read(), 15)
        report["truncated body"] = data.split(b"\r\n", 1)[0].decode()
    try:
        await step8()
    except Exception as e:
        report['9. Truncated body.'] = f'ERROR: {e}'
    async def step9():
        s = S.get('s')
        # 11. Unknown paths without a token.
        report["unknown paths, no token"] = {p: (await request(s, "GET", p))[0] for p in ["/api/user/files", "/api/domains", "/api/upload"]}
    try:
        await step9()
    except Exception as e:
        report['11. Unknown paths without a token.'] = f'ERROR: {e}'
    async def step10():
        s = S.get('s')
        # ANY /api limited?
        st, h, _ = await request(s, "GET", "/api")
        report["GET /api rate-limit header"] = h.get("x-ratelimit-limit")
    try:
        await step10()
    except Exception as e:
        report['ANY /api limited?'] = f'ERROR: {e}'
    async def step11():
        s = S.get('s')
        # 12. Booleans, blank password, lifetimes.
        s.stop(); s = Server({"THUNDERHEAD_RATE_LIMITS": "off"}); S['s'] = s
        s.user("boss", staff=True); s.user("bob")
        _, _, b = await request(s, "POST", "/api/user/session", {"username": "boss", "password": PW})
        tok = b["token"]
        _, _, bob = await request(s, "GET", "/api/users", headers={"Authorization": tok})
        bob_id = [u["id"] for u in bob["items"] if u["username"] == "bob"][0]
        st, _, body = await request(s, "PATCH", f"/api/user/{bob_id}", {"staff": "yes"}, {"Authorization": tok})
        report['PATCH staff: "yes"'] = (st, body.get("staff") if isinstance(body, dict) else body)
        st, _, body = await request(s, "POST", "/api/user/session", {"username": "bob", "password": PW, "rememberMe": "no"})
        report['login rememberMe: "no"'] = st
        st, _, body = await request(s, "POST", "/api/user/session", {"username": "bob", "password": ""})
        report["blank password"] = (st, body)
        s.stop()
        s = Server({"THUNDERHEAD_RATE_LIMITS": "off"}); S['s'] = s; s.user("carol")
        lifetimes = []
        for remember in [False, False, False, True]:
            _, _, b = await request(s, "POST", "/api/user/session", {"username": "carol", "password": PW, "rememberMe": remember})
            _, _, me = await request(s, "GET", "/api/user/session", headers={"Authorization": b["token"]})
            lifetimes.append(me["exp"] - me["iat"])
        report["exp - iat (3 quick logins, then remember-me)"] = lifetimes
    try:
        await step11()
    except Exception as e:
        report['12. Booleans, blank password, lifetimes.'] = f'ERROR: {e}'
    async def step12():
        s = S.get('s')
        # 13. High-S twin of a token.
        _, _, b = await request(s, "POST", "/api/user/session", {"username": "carol", "password": PW})
        n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
        accepted = 0; tried = 0
        for _ in range(6):
            _, _, b = await request(s, "POST", "/api/user/session", {"username": "carol", "password": PW})
            t = b["token"]; head, _, sig = t.rpartition(".")
            raw = base64.urlsafe_b64decode(sig + "==")
            r_, s_ = raw[:32], int.from_bytes(raw[32:], "big")
            twin = head + "." + base64.urlsafe_b64encode(r_ + (n - s_).to_bytes(32, "big")).decode().rstrip("=")
            st, _, _ = await request(s, "GET", "/api/user/session", headers={"Authorization": twin})
            tried += 1; accepted += st == 200
        report["high-S twins accepted"] = f"{accepted}/{tried}"
        s.stop()
    try:
        await step12()
    except Exception as e:
        report['13. High-S twin of a token.'] = f'ERROR: {e}'
    async def step13():
        s = S.get('s')
        # 10. Listening on [::], trusted proxy 127.0.0.1, general 1/60: do two clients share?
        s = Server({"THUNDERHEAD_RATE_LIMIT_GENERAL": "1/60", "THUNDERHEAD_TRUSTED_PROXIES": "127.0.0.1"}, listen="::"); S['s'] = s
        a = (await request(s, "GET", "/api", headers={"X-Forwarded-For": "203.0.113.1"}))[0]
        b_ = (await request(s, "GET", "/api", headers={"X-Forwarded-For": "203.0.113.2"}))[0]
        report["[::], two clients behind 127.0.0.1, 1/60: statuses"] = (a, b_)
        s.stop()
    try:
        await step13()
    except Exception as e:
        report['10. Listening on [::], trusted proxy 127.0.0.1, general 1/60: do two clients share?'] = f'ERROR: {e}'
    async def step14():
        s = S.get('s')
        # 14. --trusted-proxies
        p = subprocess.run([BIN, "--trusted-proxies", "10.0.0.0/8", "migrate"], env={"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite://{tempfile.mkdtemp()}/x.db"}, capture_output=True, text=True)
        report["--trusted-proxies exit code"] = p.returncode
    try:
        await step14()
    except Exception as e:
        report['14. --trusted-proxies'] = f'ERROR: {e}'
    print(json.dumps(report, indent=1))

asyncio.run(main())
