// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * The frame around every view and the sign-in page: navigation with the
 * current page marked and the count of changes awaiting review, the live
 * state in words, who is signed in with which scope, the read-only note,
 * and the sign-in form's error and checking state.
 */
import { html } from "lit-html";
import { describe, expect, it } from "vitest";
import type { StreamState } from "../../../admin-ui/live.ts";
import { ReviewQueue } from "../../../admin-ui/review-queue.ts";
import type { Route } from "../../../admin-ui/app.ts";
import { shell, signInPage } from "../../../admin-ui/views/shell.ts";
import { all, button, fire, mount, NOTHING_PLANTED, one, PLANTED, planted, signedIn, text } from "./support.ts";

function frame(opts: { scope?: "admin" | "read"; principal?: string; route?: Route; pending?: number | null; live?: StreamState } = {}) {
  const app = signedIn(opts.scope ?? "admin", opts.principal ?? "alice");
  if (opts.route) app.route = opts.route;
  if (opts.live) app.live = opts.live;
  if (opts.pending !== undefined) app.reviews = Object.assign(Object.create(ReviewQueue.prototype) as ReviewQueue, { pending: opts.pending });
  return { app, root: mount(shell(app, html`<p id="content">the view</p>`)) };
}

const nav = (root: HTMLElement) => all(root, "nav a").map((a) => `${text(a)} ${a.getAttribute("href")}${a.getAttribute("aria-current") ? " (current)" : ""}`);

describe("the frame", () => {
  it("links the views, marking the current one, and offers requesting to admins", () => {
    expect(nav(frame().root)).toEqual(["Fleet #/ (current)", "Reviews #/reviews", "Request a tenant #/new"]);
    expect(nav(frame({ route: { view: "reviews" } }).root)).toEqual(["Fleet #/", "Reviews #/reviews (current)", "Request a tenant #/new"]);
    expect(nav(frame({ route: { view: "request" } }).root)).toEqual(["Fleet #/", "Reviews #/reviews", "Request a tenant #/new (current)"]);
    expect(nav(frame({ route: { view: "tenant", slug: "acme" } }).root)).toEqual(["Fleet #/", "Reviews #/reviews", "Request a tenant #/new"]);
    expect(nav(frame({ scope: "read" }).root)).toEqual(["Fleet #/ (current)", "Reviews #/reviews"]);
  });

  it("counts the changes awaiting review beside Reviews once known", () => {
    const some = one(frame({ pending: 3 }).root, "#pending-reviews");
    expect(text(some)).toBe("3");
    expect(some.className).toBe("nav-count nav-count-some");
    expect(some.getAttribute("aria-label")).toBe("3 changes await review");
    expect(one(frame({ pending: 1 }).root, "#pending-reviews").getAttribute("aria-label")).toBe("1 change awaits review");
    const none = one(frame({ pending: 0 }).root, "#pending-reviews");
    expect(none.className).toBe("nav-count");
    expect(none.getAttribute("aria-label")).toBe("0 changes await review");
    expect(all(frame({ pending: null }).root, "#pending-reviews")).toHaveLength(0);
    expect(all(frame().root, "#pending-reviews")).toHaveLength(0);
  });

  it("says the live state in words", () => {
    const live = (state: StreamState) => one(frame({ live: state }).root, "p.live");
    expect(text(live("connecting"))).toBe("Connecting…");
    expect(text(live("live"))).toBe("Live");
    expect(live("live").className).toBe("live live-live");
    expect(text(live("reconnecting"))).toBe("Reconnecting…");
    expect(text(live("closed"))).toBe("Offline");
    expect(live("closed").getAttribute("role")).toBe("status");
  });

  it("says who is signed in and with which scope, as text, and notes a read-only token", () => {
    const admin = frame({ principal: PLANTED });
    expect(text(one(admin.root, "p.who"))).toBe(`Signed in as ${PLANTED} · admin`);
    expect(planted(admin.root)).toEqual(NOTHING_PLANTED);
    expect(all(admin.root, "p.readonly")).toHaveLength(0);
    const read = frame({ scope: "read" }).root;
    expect(text(one(read, "p.who"))).toBe("Signed in as alice · read only");
    expect(text(one(read, "p.readonly"))).toBe("Read-only token: you can watch every tenant; requesting, retrying, rolling back and deleting need an admin token.");
  });

  it("puts the view in the main region after a skip link, and signs out", () => {
    const { app, root } = frame();
    expect(text(one(root, "main#main #content"))).toBe("the view");
    expect(one(root, "a.skip").getAttribute("href")).toBe("#main");
    let signedOut = 0;
    app.signOut = () => void signedOut++;
    button(root, "Sign out").click();
    expect(signedOut).toBe(1);
  });
});

describe("the sign-in page", () => {
  it("asks for a token", () => {
    const app = signedIn();
    const root = mount(signInPage(app));
    expect(text(one(root, "h1"))).toBe("Sign in to the provisioning dashboard");
    const input = one<HTMLInputElement>(root, "#token");
    expect(input.getAttribute("type")).toBe("password");
    expect(input.getAttribute("aria-invalid")).toBe("false");
    expect(input.hasAttribute("aria-describedby")).toBe(false);
    expect(all(root, "#token-error")).toHaveLength(0);
    expect(button(root, "Sign in").disabled).toBe(false);
  });

  it("shows the error, as text, tied to the field", () => {
    const app = signedIn();
    app.signIn = { error: PLANTED, checking: false };
    const root = mount(signInPage(app));
    expect(text(one(root, "#token-error"))).toBe(PLANTED);
    expect(one(root, "#token-error").getAttribute("role")).toBe("alert");
    expect(one(root, "#token").getAttribute("aria-invalid")).toBe("true");
    expect(one(root, "#token").getAttribute("aria-describedby")).toBe("token-error");
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("waits while the token is checked, and signs in with what was typed", () => {
    const app = signedIn();
    app.signIn = { error: null, checking: true };
    expect(button(mount(signInPage(app)), "Checking…").disabled).toBe(true);
    app.signIn = { error: null, checking: false };
    const tokens: string[] = [];
    app.signInWith = async (token) => void tokens.push(token);
    const root = mount(signInPage(app));
    one<HTMLInputElement>(root, "#token").value = "the-token";
    one<HTMLFormElement>(root, "form").dispatchEvent(new Event("submit", { cancelable: true }));
    expect(tokens).toEqual(["the-token"]);
  });
});

describe("the sign-in form's events", () => {
  it("signs in without leaving the page", () => {
    const app = signedIn();
    app.signInWith = async () => undefined;
    expect(fire(one(mount(signInPage(app)), "form"), "submit").defaultPrevented).toBe(true);
  });
});
