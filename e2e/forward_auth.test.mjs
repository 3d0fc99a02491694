// Signing in on the page sets the forward-auth cookie; a real nginx in front of a small app
// lets the browser in with it, and refuses it once the browser signs out. The nginx block is
// the README's own ("Protecting other services").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser, openPage, signIn } from './harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => { const { port } = probe.address(); probe.close(() => resolve(port)); });
    probe.on('error', reject);
  });
}

async function startNginx(thunderheadPort) {
  const [port, upstream] = [await freePort(), await freePort()];
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = readme.split('## Protecting other services')[1].split('```nginx\n')[1].split('```')[0]
    .replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`)
    .replaceAll('127.0.0.1:3000', `127.0.0.1:${upstream}`)
    .replaceAll('127.0.0.1:8000', `127.0.0.1:${thunderheadPort}`);
  const dir = mkdtempSync(join(tmpdir(), 'thunderhead-nginx-'));
  writeFileSync(join(dir, 'nginx.conf'), `daemon off; master_process off; worker_processes 1;
pid ${dir}/nginx.pid; error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  ${block}
  server {
    listen 127.0.0.1:${upstream};
    location / { default_type text/html; return 200 "<!doctype html><title>files</title><p id=hello>hello $http_x_auth_username</p>"; }
  }
}
`);
  const child = spawn('/usr/sbin/nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')],
    { stdio: 'ignore' });
  const site = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try { await fetch(site); break; } catch (error) {
      if (Date.now() > deadline) throw new Error(`nginx did not start: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { site, stop: () => { child.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); } };
}

let server;
let nginx;
let browser;
before(async () => {
  // Cookies ignore ports: the one Thunderhead sets on 127.0.0.1 reaches nginx on 127.0.0.1.
  // nginx's port is known only once Thunderhead's is, so the return host is named without one.
  server = await startServer({
    THUNDERHEAD_AUTH_COOKIE: 'on',
    THUNDERHEAD_COOKIE_SECURE: 'off',
    THUNDERHEAD_RETURN_HOSTS: '127.0.0.1',
  });
  nginx = await startNginx(new URL(server.base).port);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  nginx?.stop();
  server?.stop();
});

test('signing in on the page opens an nginx-protected page; signing out closes it', async () => {
  server.createUser('alice');
  const context = await browser.newContext();
  const page = await openPage(context, server.base);
  let response = await page.goto(nginx.site + '/files/1');
  assert.equal(response.status(), 401, 'signed out, nginx refuses');

  // Sign in on the page, which sends the browser back where it came from.
  await page.goto(`${server.base}/?return=${encodeURIComponent(nginx.site + '/files/1')}`);
  await page.fill('#f-username', 'alice');
  await page.fill('#f-password', 'a fine password');
  await Promise.all([page.waitForURL(nginx.site + '/files/1'), page.click('#signin button[type=submit]')]);
  assert.equal(await page.textContent('#hello'), 'hello alice');
  const [cookie] = (await context.cookies(server.base)).filter((c) => c.name === 'thunderhead_token');
  assert.ok(cookie, 'the cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');

  // Sign out on the page: the cookie goes, and nginx refuses the very next request.
  await page.goto(server.base + '/');
  await page.waitForSelector('#own-sessions');
  await page.click('#signout');
  await page.waitForSelector('#signin');
  assert.deepEqual((await context.cookies(server.base)).filter((c) => c.name === 'thunderhead_token'), []);
  response = await page.goto(nginx.site + '/files/1');
  assert.equal(response.status(), 401);
  assert.deepEqual(page.problems, []);
  await context.close();
});

test('a return URL to a host not named is ignored', async () => {
  server.createUser('bob');
  const context = await browser.newContext();
  const page = await openPage(context, `${server.base}/?return=${encodeURIComponent('https://evil.example/')}`);
  await signIn(page, 'bob');
  assert.equal(new URL(page.url()).origin, server.base);
  await context.close();
});
