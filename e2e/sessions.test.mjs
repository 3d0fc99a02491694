// The web page, driven in headless Chromium: signing up and in, sessions on two devices,
// ending them, staff tools, errors in words, and the page's security headers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser, openPage, signIn, PASSWORD } from './harness.mjs';

const shots = process.env.UPDATE_SCREENSHOTS
  ? join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'screenshots')
  : null;

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  server?.stop();
});

test('the page is served with a strict policy and works without errors', async () => {
  const response = await fetch(server.base + '/');
  assert.equal(response.status, 200);
  const policy = response.headers.get('content-security-policy');
  assert.match(policy, /default-src 'none'/);
  assert.match(policy, /script-src 'self'/);
  assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|http/);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  for (const asset of ['/app.js', '/app.css']) assert.equal((await fetch(server.base + asset)).status, 200);
  const context = await browser.newContext();
  const page = await openPage(context, server.base);
  await page.waitForSelector('#signin');
  assert.deepEqual(page.problems, []);
  await context.close();
});

test('sign up, then sign out and in again with the keyboard alone', async () => {
  const context = await browser.newContext();
  const page = await openPage(context, server.base);
  await page.click('text=Create an account');
  await page.fill('#f-username', 'newbie');
  await page.fill('#f-email', 'newbie@example.com');
  await page.fill('#f-password', 'pw-one');
  await page.fill('#f-repeatPassword', 'pw-two');
  await page.click('#signup button[type=submit]');
  await page.waitForSelector('#e-repeatPassword:has-text("do not match")');
  await page.fill('#f-repeatPassword', 'pw-one');
  await page.click('#signup button[type=submit]');
  await page.waitForSelector('#own-sessions');
  assert.match(await page.textContent('#own-sessions'), /This device/);
  await page.click('#signout');
  await page.waitForSelector('#signin');
  assert.match(await page.textContent('#notice'), /signed out/);
  // Keyboard only: the username field has focus; Tab to the password; Enter submits.
  await page.keyboard.type('newbie');
  await page.keyboard.press('Tab');
  await page.keyboard.type('pw-one');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#own-sessions');
  assert.ok(!page.url().includes('ey'), 'the token is never in the URL');
  assert.deepEqual(page.problems, []);
  await context.close();
});

test('errors are shown in words next to the field they concern', async () => {
  server.createUser('erin');
  const context = await browser.newContext();
  const page = await openPage(context, server.base);
  await page.fill('#f-username', 'erin');
  await page.fill('#f-password', 'wrong');
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#e-password:has-text("not right")');
  await page.fill('#f-username', 'nobody-here');
  await page.fill('#f-password', PASSWORD);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#e-username:has-text("no account")');
  await page.click('text=Create an account');
  await page.fill('#f-username', 'erin');
  await page.fill('#f-email', 'other@example.com');
  await page.fill('#f-password', 'x');
  await page.fill('#f-repeatPassword', 'x');
  await page.click('#signup button[type=submit]');
  await page.waitForSelector('#e-username:has-text("already taken")');
  await context.close();
});

test('two devices: one ends the other, which returns to sign-in with a message', async () => {
  server.createUser('alice');
  const laptop = await browser.newContext({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0' });
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  });
  const onLaptop = await openPage(laptop, server.base);
  await signIn(onLaptop, 'alice', { remember: true });
  const onPhone = await openPage(phone, server.base);
  await signIn(onPhone, 'alice');
  const rows = onPhone.locator('#own-sessions tbody tr');
  assert.equal(await rows.count(), 2);
  assert.match(await onPhone.textContent('#own-sessions'), /Firefox v121\.0 on Linux/);
  assert.match(await onPhone.textContent('#own-sessions'), /Safari v17\.1 on iOS 17\.1/);
  // Readable on a phone: nothing wider than the screen.
  const overflow = await onPhone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
  if (shots) {
    mkdirSync(shots, { recursive: true });
    await onLaptop.click('text=Refresh');
    await onLaptop.waitForSelector('#own-sessions tbody tr >> nth=1');
    await onLaptop.screenshot({ path: join(shots, 'sessions.png'), fullPage: true });
  }
  // The phone ends the laptop's session.
  await onPhone.locator('#own-sessions tbody tr', { hasText: 'Firefox' }).locator('button', { hasText: 'End' }).click();
  await onPhone.waitForSelector('#notice:has-text("Ended")');
  assert.match(onPhone.lastDialog, /End the session/);
  assert.equal(await onPhone.locator('#own-sessions tbody tr').count(), 1);
  // The laptop's next look at the page sends it back to sign-in, with the reason.
  await onLaptop.click('text=Refresh');
  await onLaptop.waitForSelector('#signin');
  assert.match(await onLaptop.textContent('#notice'), /signed out from another device/);
  assert.deepEqual(onLaptop.problems, []);
  assert.deepEqual(onPhone.problems, []);
  await laptop.close();
  await phone.close();
});

test('end several at once, and sign out everywhere else', async () => {
  server.createUser('bob');
  const contexts = [];
  for (let i = 0; i < 4; i += 1) contexts.push(await browser.newContext());
  const pages = [];
  for (const context of contexts) {
    const page = await openPage(context, server.base);
    await signIn(page, 'bob');
    pages.push(page);
  }
  const main = pages[3];
  await main.click('text=Refresh');
  await main.waitForSelector('#own-sessions tbody tr >> nth=3');
  const boxes = main.locator('#own-sessions tbody input[type=checkbox]:not([disabled])');
  assert.equal(await boxes.count(), 3, 'the current session cannot be selected');
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await main.click('#end-selected');
  await main.waitForSelector('#notice:has-text("Ended 2 sessions")');
  assert.equal(await main.locator('#own-sessions tbody tr').count(), 2);
  await main.click('#end-others');
  await main.waitForSelector('#notice:has-text("Signed out 1 other session")');
  assert.equal(await main.locator('#own-sessions tbody tr').count(), 1);
  for (const context of contexts) await context.close();
});

test('more than 50 sessions are paged', async () => {
  server.createUser('carol');
  for (let i = 0; i < 54; i += 1) {
    const r = await fetch(server.base + '/api/user/session', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: PASSWORD }),
    });
    assert.equal(r.status, 201);
  }
  const context = await browser.newContext();
  const page = await openPage(context, server.base);
  await signIn(page, 'carol');
  assert.match(await page.textContent('#own-sessions h2'), /\(55\)/);
  assert.equal(await page.locator('#own-sessions tbody tr').count(), 50);
  await page.click('text=Next');
  await page.waitForSelector('.pager:has-text("51–55 of 55")');
  assert.equal(await page.locator('#own-sessions tbody tr').count(), 5);
  await context.close();
});

test('staff find a user, end their sessions and ban them, after confirming', async () => {
  server.createUser('boss', { staff: true });
  const daveId = server.createUser('dave');
  const daveContext = await browser.newContext();
  const dave = await openPage(daveContext, server.base);
  await signIn(dave, 'dave');
  const staffContext = await browser.newContext();
  const staff = await openPage(staffContext, server.base);
  await signIn(staff, 'boss');
  await staff.click('text=Staff');
  await staff.waitForSelector('#all-users');
  assert.match(await staff.textContent('#all-users'), /dave/);
  await staff.fill('#f-userid', String(daveId));
  await staff.click('#find-user button[type=submit]');
  await staff.waitForSelector('#user-sessions');
  assert.match(await staff.textContent('#user-sessions h2'), /dave's sessions \(1\)/);
  if (shots) await staff.screenshot({ path: join(shots, 'staff.png'), fullPage: true });
  await staff.click('#end-all');
  await staff.waitForSelector('#notice:has-text("Ended 1 session of dave")');
  assert.match(staff.lastDialog, /End all of dave's sessions/);
  // Dave's page finds out on its next look.
  await dave.click('text=Refresh');
  await dave.waitForSelector('#signin');
  // Ban: dave can no longer sign in, and is told why.
  await staff.click('#toggle-ban');
  await staff.waitForSelector('#user-card .tag.banned');
  assert.match(staff.lastDialog, /Ban dave\?/);
  await dave.fill('#f-username', 'dave');
  await dave.fill('#f-password', PASSWORD);
  await dave.click('#signin button[type=submit]');
  await dave.waitForSelector('#signin .error:has-text("banned")');
  // Unknown IDs are explained, not broken.
  await staff.fill('#f-userid', '999999');
  await staff.click('#find-user button[type=submit]');
  await staff.waitForSelector('#find-user .error:has-text("no account")');
  assert.deepEqual(staff.problems, []);
  await daveContext.close();
  await staffContext.close();
});

test('a rate-limited sign-in says how long to wait', async () => {
  const limited = await startServer({ THUNDERHEAD_RATE_LIMITS: 'on', THUNDERHEAD_RATE_LIMIT_LOGIN: '1/60', THUNDERHEAD_RATE_LIMIT_GENERAL: 'off' });
  try {
    limited.createUser('frank');
    const context = await browser.newContext();
    const page = await openPage(context, limited.base);
    await signIn(page, 'frank');
    await page.click('#signout');
    await page.waitForSelector('#signin');
    await page.fill('#f-username', 'frank');
    await page.fill('#f-password', PASSWORD);
    await page.click('#signin button[type=submit]');
    await page.waitForSelector('#signin .error:has-text("Too many attempts. Try again in")');
    await context.close();
  } finally {
    limited.stop();
  }
});

test('markup in a session name or a username is shown as text, never run', async () => {
  const markup = '<img src=x onerror=alert(1)>';
  server.createUser('boss2', { staff: true });
  const eveId = server.createUser('eve');
  // A session named with markup, opened by another client of the API.
  const login = await fetch(server.base + '/api/user/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Token-Name': markup },
    body: JSON.stringify({ username: 'eve', password: PASSWORD }),
  });
  assert.equal(login.status, 201);
  const context = await browser.newContext();
  const page = await openPage(context, server.base);
  await signIn(page, 'eve');
  await page.waitForSelector(`#own-sessions :text("${markup}")`);
  assert.equal(await page.locator('#own-sessions img').count(), 0, 'no element was made of it');
  // Staff see it as text too.
  const staffContext = await browser.newContext();
  const staff = await openPage(staffContext, server.base);
  await signIn(staff, 'boss2');
  await staff.click('text=Staff');
  await staff.fill('#f-userid', String(eveId));
  await staff.click('#find-user button[type=submit]');
  await staff.waitForSelector(`#user-sessions :text("${markup}")`);
  assert.equal(await staff.locator('#user-sessions img').count(), 0);
  // A username cannot hold markup at all: the sign-up says which field is wrong, as text.
  const other = await openPage(await browser.newContext(), server.base);
  await other.click('text=Create an account');
  await other.fill('#f-username', markup);
  await other.fill('#f-email', 'markup@example.com');
  await other.fill('#f-password', 'pw');
  await other.fill('#f-repeatPassword', 'pw');
  await other.click('#signup button[type=submit]');
  await other.waitForSelector('#e-username:not(:empty)');
  assert.equal(await other.locator('img').count(), 0);
  for (const p of [page, staff, other]) {
    assert.equal(p.lastDialog, undefined, 'no script ran');
    assert.deepEqual(p.problems, []);
  }
  await context.close();
  await staffContext.close();
});
