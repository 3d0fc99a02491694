"""1,100 idle connections against a server at a 1024-descriptor limit; how long until a new
client is answered? Usage: fdprobe.py BINARY"""
import asyncio, os, resource, socket, subprocess, sys, tempfile, time
BIN = sys.argv[1]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
async def main():
    d = tempfile.mkdtemp(); port = free_port()
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite://{d}/t.db", "RUST_LOG": "warn", "THUNDERHEAD_RATE_LIMITS": "off"}
    p = subprocess.Popen(["prlimit", "--nofile=1024:1024", BIN, "serve", "--listen", f"127.0.0.1:{port}"], env=env, stderr=open(f"{d}/log", "w"))
    for _ in range(100):
        try: socket.create_connection(("127.0.0.1", port), 0.1).close(); break
        except OSError: time.sleep(0.1)
    held = []
    for _ in range(1100):
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            held.append(w)
        except Exception:
            break
    await asyncio.sleep(1)
    t = time.time()
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
        w.write(b"GET /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); await w.drain()
        data = await asyncio.wait_for(r.read(), 30)
        print(f"held {len(held)}; a new client: {data.split(b' ')[1].decode() if data else 'closed without an answer'} after {time.time() - t:.1f} s")
    except asyncio.TimeoutError:
        print(f"held {len(held)}; a new client: no answer within 30 s")
    p.kill()
    print(open(f"{d}/log").read()[-600:])
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
asyncio.run(main())
