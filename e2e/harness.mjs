// Starts a real `thunderhead serve` (the debug binary cargo built) on an ephemeral port over a
// fresh SQLite file, creates accounts through the CLI, and launches Debian's Chromium.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = process.env.THUNDERHEAD_BIN || join(root, 'target', 'debug', 'thunderhead');
export const PASSWORD = 'a fine password';

export async function startServer(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'thunderhead-e2e-'));
  const env = {
    PATH: process.env.PATH,
    DATABASE_URL: `sqlite://${join(dir, 'e2e.db')}`,
    THUNDERHEAD_KEY_FILE: join(dir, 'key.pem'),
    THUNDERHEAD_ARGON2_MEMORY_KIB: '256',
    THUNDERHEAD_ARGON2_ITERATIONS: '1',
    THUNDERHEAD_RATE_LIMITS: 'off',
    RUST_LOG: 'warn,thunderhead::server=info',
    ...extraEnv,
  };
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const base = await new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 30_000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = /address=(\S+)/.exec(log);
      if (match) { clearTimeout(timer); resolve(`http://${match[1]}`); }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
  const createUser = (username, { staff = false } = {}) => {
    const args = ['user', 'create', '--username', username, '--email', `${username}@example.com`];
    if (staff) args.push('--staff');
    const run = spawnSync(BIN, args, { env, input: `${PASSWORD}\n`, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`creating ${username}: ${run.stderr}`);
    return Number(/id (\d+)/.exec(run.stdout)[1]);
  };
  const stop = () => { child.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); };
  return { base, createUser, stop };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page that fails the test on any console error or uncaught exception (CSP violations included). */
export async function openPage(context, base) {
  const page = await context.newPage();
  page.problems = [];
  // 4xx answers are logged by Chromium as "Failed to load resource"; the tests cause those on purpose.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) page.problems.push(msg.text());
  });
  page.on('pageerror', (err) => page.problems.push(String(err)));
  page.on('dialog', (dialog) => { page.lastDialog = dialog.message(); dialog.accept(); });
  await page.goto(base + '/');
  return page;
}

export async function signIn(page, username, { remember = false } = {}) {
  await page.fill('#f-username', username);
  await page.fill('#f-password', PASSWORD);
  if (remember) await page.check('#f-remember');
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#own-sessions');
}
