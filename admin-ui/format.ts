/** Words and numbers for people: phase names, durations, times. */

/** CREATE_DNS_ZONE -> "Create DNS zone". */
export function phaseTitle(name: string): string {
  const words = name.toLowerCase().split("_");
  const upper = new Set(["dns"]);
  return words.map((w, i) => (upper.has(w) ? w.toUpperCase() : i === 0 ? w[0]!.toUpperCase() + w.slice(1) : w)).join(" ");
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

/** The time a run took, or has taken so far while it runs. */
export function elapsed(startedAt: string | null, completedAt: string | null, running: boolean, now = Date.now()): string {
  if (!startedAt) return "—";
  const end = completedAt ? Date.parse(completedAt) : running ? now : null;
  return end === null ? "—" : duration(end - Date.parse(startedAt));
}

const dateTime = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

export function when(iso: string | null | undefined): string {
  return iso ? dateTime.format(new Date(iso)) : "—";
}

export function clock(iso: string | number | Date): string {
  return timeOnly.format(new Date(iso));
}

export const count = (n: number) => new Intl.NumberFormat().format(n);

/** "(urn:pulumi:…$kubernetes:core/v1:Service::ingress-controller-service)" at the end of an engine error, split off for people. */
export function plainError(error: string): { message: string; resource: { name: string; type: string } | null } {
  const match = /^(.*?)\s*\((urn:pulumi:[^)]+)\)\s*$/s.exec(error);
  if (!match) return { message: error, resource: null };
  const urn = match[2]!;
  const name = urn.split("::").at(-1) ?? urn;
  const qualifiedType = urn.split("::").at(-2) ?? "";
  return { message: match[1]!, resource: { name, type: qualifiedType.split("$").at(-1) ?? qualifiedType } };
}

/** credentialsSecretName -> "Credentials secret name". */
export function words(key: string): string {
  const spaced = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  const acronyms = new Set(["api", "bi", "dns", "id", "ip", "url"]);
  const text = spaced.split(" ").map((w) => (acronyms.has(w) ? w.toUpperCase() : w)).join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A size as PostgreSQL's pg_size_pretty words it (1024 to the next unit): "8192 bytes", "48 kB", "1.5 MB". */
export function bytes(n: number): string {
  const units = ["kB", "MB", "GB", "TB"];
  if (n < 1024) return `${count(n)} ${n === 1 ? "byte" : "bytes"}`;
  let size = n / 1024;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size < 10 ? size.toFixed(1) : Math.round(size)} ${units[unit]}`;
}
