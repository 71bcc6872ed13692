/**
 * Platform settings as versions in the database (issue 23). The settings file
 * (MATIH_PLATFORM_SETTINGS_FILE, or the defaults) only seeds version 1; from
 * then on the database's newest version is the platform's settings, for every
 * process alike.
 *
 * How processes agree: runs read the current version from the database when
 * they start (one indexed read per run, which lasts seconds to minutes) and
 * the API per request, rather than caching it and listening for NOTIFY. A
 * notification is lost while a listener reconnects, so a cache would need a
 * re-read anyway; reading per operation has nothing to miss, and the version
 * a run used is exactly the one it records on the tenant.
 */
import { isDeepStrictEqual } from "node:util";
import type pg from "pg";
import { redactValue } from "../../automation/index.ts";
import { SECRET_PLACEHOLDER } from "../../model/constants.ts";
import { resolvePlatformSettings, type PlatformSettings } from "../../model/settings.ts";
import { appendSettingsVersion, currentSettingsVersion, seedSettingsVersion, type SettingsVersionRow } from "../db/platform-settings.ts";
import type { Queryable } from "../db/pool.ts";

/** The settings as JSON keeps them: optional settings left unset are absent, not `undefined`. */
const asJson = (settings: PlatformSettings): PlatformSettings => JSON.parse(JSON.stringify(settings)) as PlatformSettings;

/**
 * How this process reaches the target cluster (`kubernetes.kubeconfig`, a path
 * or the kubeconfig itself with its client key or token, and
 * `kubernetes.context`) is the process's own, like its DATABASE_URL: never
 * part of a version in the database (a table every admin can read back through
 * history), always taken from the process's settings file.
 */
const PROCESS_CONNECTION_KEYS = ["kubeconfig", "context"] as const;

/** The settings as a version stores them: JSON, without the process's cluster connection. */
function asStored(settings: PlatformSettings): PlatformSettings {
  const json = asJson(settings);
  const kubernetes = { ...json.kubernetes } as Record<string, unknown>;
  for (const key of PROCESS_CONNECTION_KEYS) delete kubernetes[key];
  return { ...json, kubernetes: kubernetes as unknown as PlatformSettings["kubernetes"] };
}

/** A stored version as this process runs it: with its own cluster connection from its settings file. */
export function withProcessConnection(stored: PlatformSettings, processSettings: PlatformSettings): PlatformSettings {
  const connection: Partial<Record<(typeof PROCESS_CONNECTION_KEYS)[number], string>> = {};
  for (const key of PROCESS_CONNECTION_KEYS) if (processSettings.kubernetes?.[key] !== undefined) connection[key] = processSettings.kubernetes[key];
  return { ...stored, kubernetes: { ...stored.kubernetes, ...connection } };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The dotted paths at which two settings differ: objects are compared key by
 * key (a map such as `images.tags` gives `images.tags.ai-service`), lists and
 * values as a whole. No values: a summary can be shown to anyone.
 */
export function changedSettingPaths(previous: PlatformSettings | undefined, next: PlatformSettings): string[] {
  if (previous === undefined) return [];
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (isPlainObject(a) && isPlainObject(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[key], b[key], path ? `${path}.${key}` : key);
    } else if (!isDeepStrictEqual(a, b)) {
      out.push(path);
    }
  };
  walk(asStored(previous), asStored(next), "");
  return out;
}

/**
 * The settings as the API shows them: every secret this process knows of
 * masked (redactValue), and a kubeconfig given inline (its contents rather
 * than a path: it may hold a client key or token) shown as "[secret]".
 */
export function redactedSettings(settings: PlatformSettings): PlatformSettings {
  const kubeconfig = settings.kubernetes?.kubeconfig;
  const inline = typeof kubeconfig === "string" && /[\n:]\s/.test(kubeconfig);
  const shown = inline ? { ...settings, kubernetes: { ...settings.kubernetes, kubeconfig: SECRET_PLACEHOLDER } } : settings;
  return redactValue(shown);
}

export interface SettingsLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * At start: seeds version 1 from the file's settings if the database has none;
 * otherwise uses the database's current version, warning (with the differing
 * paths, never values) when the file says otherwise.
 */
export async function startWithPlatformSettings(
  pool: pg.Pool,
  file: { settings: PlatformSettings; source: string },
  log: SettingsLog,
): Promise<SettingsVersionRow> {
  const { current, seeded } = await seedSettingsVersion(pool, { settings: asStored(file.settings), createdBy: "service start", reason: `first version, seeded from ${file.source}` });
  const running = { ...current, settings: withProcessConnection(current.settings, file.settings) };
  if (seeded) {
    log.info({ settingsVersion: current.version, source: file.source }, "platform settings: recorded the settings as version 1 in the database");
    return running;
  }
  const differing = changedSettingPaths(current.settings, file.settings);
  if (differing.length > 0) {
    log.warn(
      { settingsVersion: current.version, source: file.source, differingPaths: differing },
      `platform settings: ${file.source} differs from the database's current version ${current.version} at ${differing.join(", ")}; using version ${current.version}. ` +
        "The file only seeds the first version: to change the settings, propose a new version (fleet changes; GET /api/v1/platform/settings shows the current one) rather than editing the file",
    );
  } else {
    log.info({ settingsVersion: current.version }, `platform settings: using version ${current.version} from the database`);
  }
  return running;
}

/**
 * The settings a run or preview uses now: the database's current version with
 * this process's cluster connection, or the process's own settings before the
 * first start seeded a version.
 */
export async function currentPlatformSettings(db: Queryable, processSettings: PlatformSettings): Promise<{ version: number | undefined; settings: PlatformSettings }> {
  const current = await currentSettingsVersion(db);
  return current ? { version: current.version, settings: withProcessConnection(current.settings, processSettings) } : { version: undefined, settings: processSettings };
}

/**
 * Records a new version with who and why (tests now; fleet changes later).
 * The settings are checked as the file's are (a ValidationError names every
 * bad path); settings equal to the current version record nothing and return it.
 */
export async function recordPlatformSettingsVersion(
  pool: pg.Pool,
  change: { settings: PlatformSettings; createdBy: string; reason: string },
): Promise<{ version: SettingsVersionRow; recorded: boolean }> {
  if (!change.createdBy.trim() || !change.reason.trim()) throw new Error("a platform settings version needs who recorded it and why");
  const settings = asStored(resolvePlatformSettings(asJson(change.settings)));
  const result = await appendSettingsVersion(pool, { settings, createdBy: change.createdBy, reason: change.reason }, changedSettingPaths);
  return "recorded" in result ? { version: result.recorded, recorded: true } : { version: result.unchanged, recorded: false };
}
