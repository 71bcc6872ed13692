/** Small pieces several views share: status badges, the ten-step bar, property values. */
import { html } from "lit-html";
import { phaseTitle } from "../format.ts";
import type { PhaseStatus } from "../types.ts";

const PHASE_STATUS_WORDS: Record<PhaseStatus, string> = {
  PENDING: "pending",
  RUNNING: "running",
  SUCCEEDED: "done",
  FAILED: "failed",
  ROLLED_BACK: "removed",
};

/** A status as a word and a colour; the colour only repeats what the word says. */
export const statusBadge = (status: string) => html`<span class="badge badge-${status.toLowerCase().replaceAll("_", "-")}">${status.replaceAll("_", " ")}</span>`;

/** What a redacted secret value reads as in previews and drift results. */
const SECRET = "[secret]";

/**
 * A property's value as the API gives it: text as it is (several lines kept),
 * anything else as JSON, and a redacted secret said to be one.
 */
export function value(v: unknown) {
  if (v === SECRET) return html`<span class="secret" title="A secret value: the service never shows it">[secret]</span>`;
  if (typeof v === "string") return v.includes("\n") ? html`<pre class="value">${v}</pre>` : html`<code class="value">${v === "" ? "(empty)" : v}</code>`;
  return html`<code class="value">${v === null ? "null" : JSON.stringify(v)}</code>`;
}

/** The ten phases as ten steps, with a text equivalent for screen readers and a title for pointer users. */
export function phaseBar(phases: readonly PhaseStatus[], names: readonly string[] = []) {
  const done = phases.filter((s) => s === "SUCCEEDED").length;
  const failed = phases.findIndex((s) => s === "FAILED");
  const running = phases.findIndex((s) => s === "RUNNING");
  const removed = phases.filter((s) => s === "ROLLED_BACK").length;
  const words = [`${done} of ${phases.length} phases done`];
  if (running >= 0) words.push(`phase ${running + 1} running`);
  if (failed >= 0) words.push(`phase ${failed + 1} failed`);
  if (removed > 0) words.push(`${removed} removed`);
  const label = words.join(", ");
  return html`<span class="bar" role="img" aria-label=${label} title=${label} data-done=${done}>${phases.map((s, i) =>
    html`<span class="step step-${s.toLowerCase().replace("_", "-")}" title=${`${i + 1} ${names[i] ? phaseTitle(names[i]) : ""}: ${PHASE_STATUS_WORDS[s]}`}></span>`)}</span>`;
}
