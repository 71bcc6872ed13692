/// <reference lib="dom" />
/**
 * The admin dashboard's browser tests share these: a site (a fresh database
 * and the real service listening on a port), a page that records every
 * request and console problem, signing in, and waiting for the page to settle.
 */
import type { Page } from "playwright-core";
import { expect } from "vitest";
import { pageProblems, type TestBrowser } from "./browser.ts";
import { freshDatabase, startService, type TestService } from "./service.ts";

export interface Site {
  db: Awaited<ReturnType<typeof freshDatabase>>;
  service: TestService;
  origin: string;
}

export async function startSite(env: Record<string, string>): Promise<Site> {
  const db = await freshDatabase("matih_ui");
  const service = await startService(db.url, env);
  await service.app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = service.app.server.address() as { port: number };
  return { db, service, origin: `http://127.0.0.1:${port}` };
}

export async function stopSite(site: Site | undefined): Promise<void> {
  await site?.service.close();
  await site?.db.drop();
}

/** A new page whose every request is recorded, to show that nothing comes from another origin. */
export async function openPage(browser: TestBrowser, site: Site, width = 1280): Promise<{ page: Page; requests: string[]; problems: string[] }> {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width, height: 900 });
  const requests: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  const problems = pageProblems(page);
  await page.goto(`${site.origin}/admin`);
  return { page, requests, problems };
}

export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Signed in as").waitFor();
}

/** Console errors other than the browser's own note about a refused request (401, 400, 403, 409) that the page handled. */
export const unexpected = (problems: string[]) => problems.filter((p) => !/^Failed to load resource: the server responded with a status of (400|401|403|409)/.test(p));

/** Waits for what the page shows to settle; renders are asynchronous, and a busy machine makes them slow. */
export const poll = <T>(read: () => Promise<T> | T, timeout = 20_000) => expect.poll(read, { timeout, interval: 100 });

/** Requests that went anywhere but the site itself (its pages, API and WebSockets). */
export const sameOrigin = (site: Site, urls: string[]) => urls.filter((u) => !u.startsWith(`${site.origin}/`) && !u.startsWith(site.origin.replace("http:", "ws:")));
