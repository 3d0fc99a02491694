// Sessions people can recognise (API.md 2.1) on the page, at phone and desktop widths: each
// session's device, when it was last active (exact time on hover and on focus), where it was
// used from (and signed in from, when that differs), "This device" first, the rest by last use,
// idle ones marked; and staff finding users as they type, a page at a time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, signIn } from './harness.mjs';

const WIDTHS = [
  { name: 'phone', viewport: { width: 375, height: 812 } },
  { name: 'desktop', viewport: { width: 1280, height: 800 } },
];
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';
const DAY = 24 * 60 * 60 * 1000;

let server;
let browser;
before(async () => {
  // Loopback is a trusted proxy here, so each test device can say where it is.
  server = await startServer({ THUNDERHEAD_TRUSTED_PROXIES: '127.0.0.1' });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  server?.stop();
});

/** A browser context that looks like a device at `ip`. */
async function device(ip, viewport, userAgent) {
  return browser.newContext({ viewport, userAgent, extraHTTPHeaders: { 'X-Forwarded-For': ip } });
}

for (const { name, viewport } of WIDTHS) {
  test(`each session says what, when and where, this device first (${name})`, async () => {
    const user = `carol${name}`;
    server.createUser(user);
    // An older device, signed in from one place and then used from another.
    const laptop = await device('198.51.100.7', viewport, FIREFOX);
    const onLaptop = await openPage(laptop, server.base);
    await signIn(onLaptop, user);
    await laptop.setExtraHTTPHeaders({ 'X-Forwarded-For': '203.0.113.5' });
    await onLaptop.reload();
    await onLaptop.waitForSelector('#own-sessions');
    // This device.
    const phone = await device('192.0.2.44', viewport, undefined);
    const onPhone = await openPage(phone, server.base);
    await signIn(onPhone, user);

    const rows = onPhone.locator('#own-sessions tbody tr');
    assert.equal(await rows.count(), 2);
    const first = rows.nth(0);
    assert.match(await first.locator('.device').textContent(), /This device/);
    assert.match(await first.locator('.last-active').textContent(), /just now/);
    assert.match(await first.locator('.place').textContent(), /192\.0\.2\.44/);
    const other = rows.nth(1);
    assert.match(await other.locator('.device').textContent(), /Firefox v120\.0 on Linux/);
    assert.match(await other.locator('.place').textContent(), /203\.0\.113\.5/);
    assert.match(await other.locator('.place').textContent(), /signed in from 198\.51\.100\.7/);
    // The exact time: on hover (title) and on keyboard focus (shown after the relative time).
    const time = other.locator('.last-active time');
    const exact = await time.getAttribute('title');
    assert.ok(exact && exact.length > 8, exact);
    await time.focus();
    const shown = await time.evaluate((el) => getComputedStyle(el, '::after').content);
    assert.ok(shown.includes(exact), `${shown} shows ${exact}`);
    assert.equal(await onPhone.locator('#own-sessions .tag.idle').count(), 0, 'nothing is idle yet');

    // Forty days on, a session not used since is marked idle.
    await onPhone.clock.install({ time: new Date(Date.now() + 40 * DAY) });
    await onPhone.reload();
    await onPhone.waitForSelector('#own-sessions');
    assert.equal(await onPhone.locator('#own-sessions tbody tr').nth(1).locator('.tag.idle').count(), 1);
    assert.match(await onPhone.locator('#own-sessions tbody tr').nth(1).locator('.last-active').textContent(), /1 month ago/);
    assert.deepEqual([...onLaptop.problems, ...onPhone.problems], []);
    await laptop.close();
    await phone.close();
  });

  test(`staff find users as they type, a page at a time (${name})`, async () => {
    const staffName = `chief${name}`;
    server.createUser(staffName, { staff: true });
    for (let i = 0; i < 55; i += 1) server.createUser(`${name}member${String(i).padStart(2, '0')}`);
    server.createUser(`${name}dave`);
    const context = await browser.newContext({ viewport });
    const page = await openPage(context, server.base);
    await signIn(page, staffName);
    await page.click('text=Staff');
    await page.waitForSelector('#all-users');
    // Typing: one search once the typing pauses, for what was typed last.
    await page.locator('#f-userid').pressSequentially(`${name}dav`, { delay: 20 });
    await page.waitForSelector(`#all-users h2:has-text('Users matching "${name}dav" (1)')`);
    assert.match(await page.textContent('#all-users tbody'), new RegExp(`${name}dave`));
    // Paged: 55 members, 50 to a page.
    await page.fill('#f-userid', `${name}MEMBER`);
    await page.waitForSelector(`#all-users h2:has-text("(55)")`);
    assert.equal(await page.locator('#all-users tbody tr').count(), 50);
    assert.match(await page.textContent('#all-users .pager'), /1–50 of 55/);
    await page.click('#all-users .pager button:has-text("Next")');
    await page.waitForSelector('#all-users .pager:has-text("51–55 of 55")');
    assert.equal(await page.locator('#all-users tbody tr').count(), 5);
    // Opening one from the matches shows their sessions.
    await page.click(`#all-users button[aria-label="Open ${name}member02"]`);
    await page.waitForSelector('#user-sessions');
    // Nothing matches: said so.
    await page.fill('#f-userid', 'no-such-person');
    await page.waitForSelector('#all-users:has-text("No user matches.")');
    assert.deepEqual(page.problems, []);
    await context.close();
  });
}
