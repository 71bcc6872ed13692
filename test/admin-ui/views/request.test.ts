// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * The request form for a new tenant: fields with their labels and hints,
 * the tiers and regions the platform offers, the API's own problems shown
 * beside each field and summed up at the top, the button while sending, and
 * a read-only token told it cannot request.
 */
import { describe, expect, it } from "vitest";
import type { RequestState } from "../../../admin-ui/app.ts";
import { requestView } from "../../../admin-ui/views/request.ts";
import { all, buttons, enter, fire, mount, NOTHING_PLANTED, one, PLANTED, planted, signedIn, text } from "./support.ts";

function view(request: Partial<RequestState> = {}, scope: "admin" | "read" = "admin") {
  const app = signedIn(scope);
  app.request = { ...app.request, ...request };
  return { app, root: mount(requestView(app)) };
}

describe("the request form", () => {
  it("tells a read-only token that requesting needs an admin one", () => {
    const { root } = view({}, "read");
    expect(text(one(root, "[role=alert]"))).toBe("Requesting a tenant needs an admin token; you are signed in with a read-only one.");
    expect(all(root, "form")).toHaveLength(0);
  });

  it("labels every field, with hints, and offers the platform's tiers and regions", () => {
    const { root } = view();
    expect(text(one(root, "h1"))).toBe("Request a tenant");
    expect(all(root, "form label").map((l) => [l.getAttribute("for"), text(l)])).toEqual([
      ["slug", "Slug"], ["displayName", "Display name"], ["tier", "Tier"], ["region", "Region"], ["adminEmail", "Admin e-mail"],
    ]);
    expect(text(one(root, "#slug-hint"))).toBe("Lowercase letters, digits and hyphens; it names the namespace, database schema and host names.");
    expect(text(one(root, "#adminEmail-hint"))).toBe("Receives the completion notification.");
    expect(one(root, "#slug").getAttribute("aria-describedby")).toBe("slug-hint");
    expect(one(root, "#displayName").hasAttribute("aria-describedby")).toBe(false);
    expect(all(root, "input").map((i) => [i.id, i.getAttribute("type"), i.getAttribute("autocomplete"), i.getAttribute("aria-invalid")])).toEqual([
      ["slug", "text", "off", "false"], ["displayName", "text", "organization", "false"], ["adminEmail", "email", "email", "false"],
    ]);
    expect(all<HTMLOptionElement>(root, "#tier option").map((o) => [o.value, o.hasAttribute("selected")])).toEqual([["free", true], ["professional", false], ["enterprise", false]]);
    expect(all<HTMLOptionElement>(root, "#region option").map((o) => [o.value, o.hasAttribute("selected")])).toEqual([["eastus", true], ["westeurope", false]]);
    expect(buttons(root)).toEqual(["Request tenant"]);
    expect(all(root, "#request-problems, .field.invalid, .field-error")).toHaveLength(0);
  });

  it("keeps what was typed and chosen", () => {
    const { root } = view({ values: { slug: "acme", displayName: PLANTED, tier: "enterprise", region: "westeurope", adminEmail: "ops@acme.example" } });
    expect(one<HTMLInputElement>(root, "#slug").value).toBe("acme");
    expect(one<HTMLInputElement>(root, "#displayName").value).toBe(PLANTED);
    expect(one<HTMLInputElement>(root, "#adminEmail").value).toBe("ops@acme.example");
    expect(all<HTMLOptionElement>(root, "#tier option").filter((o) => o.hasAttribute("selected")).map((o) => o.value)).toEqual(["enterprise"]);
    expect(all<HTMLOptionElement>(root, "#region option").filter((o) => o.hasAttribute("selected")).map((o) => o.value)).toEqual(["westeurope"]);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("puts what is typed into the request", () => {
    const { app, root } = view();
    const slug = one<HTMLInputElement>(root, "#slug");
    slug.value = "acme";
    slug.dispatchEvent(new Event("input"));
    const tier = one<HTMLSelectElement>(root, "#tier");
    tier.value = "enterprise";
    tier.dispatchEvent(new Event("change"));
    expect(app.request.values).toEqual({ slug: "acme", displayName: "", tier: "enterprise", region: "eastus", adminEmail: "" });
  });

  it("offers the default tiers and region without the platform's", () => {
    const app = signedIn();
    app.platform = null;
    const root = mount(requestView(app));
    expect(all<HTMLOptionElement>(root, "#tier option").map((o) => o.value)).toEqual(["free", "professional", "enterprise"]);
    expect(all<HTMLOptionElement>(root, "#region option").map((o) => o.value)).toEqual(["eastus"]);
  });

  it("shows the API's problems beside each field and counts them at the top", () => {
    const { root } = view({ errors: { slug: ["must match pattern", "is taken"], tier: ["must be one of free, professional, enterprise"] } });
    const problems = one(root, "#request-problems");
    expect(problems.getAttribute("role")).toBe("alert");
    expect(text(one(problems, "p"))).toBe("The service refused the request: 3 problems.");
    expect(all(problems, "li").map((li) => text(li))).toEqual(["Slug must match pattern", "Slug is taken", "Tier must be one of free, professional, enterprise"]);
    expect(all(problems, "a").map((a) => a.getAttribute("href"))).toEqual(["#/new", "#/new", "#/new"]);
    expect(all(one(root, "#slug-error"), "li").map((li) => text(li))).toEqual(["Slug must match pattern", "Slug is taken"]);
    expect(one(root, "#slug").getAttribute("aria-invalid")).toBe("true");
    expect(one(root, "#slug").getAttribute("aria-describedby")).toBe("slug-hint slug-error");
    expect(one(root, "#tier").getAttribute("aria-describedby")).toBe("tier-error");
    expect(one(root, "#tier").getAttribute("aria-invalid")).toBe("true");
    expect(one(root, "#region").getAttribute("aria-invalid")).toBe("false");
    expect(all(root, ".field").map((f) => f.className.trim())).toEqual(["field invalid", "field", "field invalid", "field", "field"]);
  });

  it("moves to the field a problem names", () => {
    const { root } = view({ errors: { adminEmail: ["must be an e-mail address"] } });
    one(root, "#request-problems a").click();
    expect(document.activeElement?.id).toBe("adminEmail");
    expect(text(one(root, "#request-problems p"))).toBe("The service refused the request: 1 problem.");
  });

  it("shows a problem with the whole form, as text", () => {
    const { root } = view({ formError: PLANTED });
    expect(text(one(root, "#request-problems p"))).toBe(`The service refused the request. ${PLANTED}`);
    expect(all(root, "#request-problems ul")).toHaveLength(0);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("waits while the request is sent, and sends it on submit", () => {
    expect(buttons(view({ sending: true }).root)).toEqual(["Sending… (disabled)"]);
    const { app, root } = view();
    let sent = 0;
    app.submitRequest = async () => void sent++;
    one<HTMLFormElement>(root, "form.request").dispatchEvent(new Event("submit", { cancelable: true }));
    expect(sent).toBe(1);
  });
});

describe("the request form's events", () => {
  it("puts every field into the request, and submits without leaving the page", () => {
    const { app, root } = view();
    enter(one<HTMLInputElement>(root, "#displayName"), "Acme Corp");
    enter(one<HTMLSelectElement>(root, "#region"), "westeurope");
    enter(one<HTMLInputElement>(root, "#adminEmail"), "ops@acme.example");
    expect(app.request.values).toEqual({ slug: "", displayName: "Acme Corp", tier: "free", region: "westeurope", adminEmail: "ops@acme.example" });
    app.submitRequest = async () => undefined;
    expect(fire(one(root, "form.request"), "submit").defaultPrevented).toBe(true);
  });

  it("moves to the field without following the link", () => {
    const { root } = view({ errors: { slug: ["is taken"] } });
    expect(fire(one(root, "#request-problems a"), "click").defaultPrevented).toBe(true);
    expect(document.activeElement?.id).toBe("slug");
  });
});

describe("a problem with a field the form does not have", () => {
  it("is listed, and following it moves nowhere", () => {
    const { root } = view({ errors: { lastPhase: ["must be at most 10"] } });
    expect(text(one(root, "#request-problems li"))).toBe("must be at most 10");
    expect(() => one(root, "#request-problems a").click()).not.toThrow();
  });
});
