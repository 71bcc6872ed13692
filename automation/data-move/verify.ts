/**
 * The verify step's comparison, apart from the reading (inventory.ts) so that
 * every kind of difference it knows can be checked on literal inventories.
 */
import type { SequenceReport, TableReport } from "./types.ts";

export interface LargeObjectInventory {
  readonly bytes: number;
  readonly sha256: string;
  readonly owner: string;
  /** "grantee=PRIVILEGE" items, sorted. */
  readonly grants: readonly string[];
}

/** What one side holds, read the same way on both. */
export interface Inventory {
  readonly tables: readonly TableReport[];
  /** Per relation (and "(schema)"): owner and non-owner grants. */
  readonly privileges: Readonly<Record<string, string>>;
  readonly sequences: readonly SequenceReport[];
  /** By OID. */
  readonly largeObjects: ReadonlyMap<number, LargeObjectInventory>;
}

/** The value nextval would hand out next (ascending sequences, which is what serials and identities are). */
export const nextValue = (s: SequenceReport) => BigInt(s.lastValue) + (s.isCalled ? 1n : 0n);

/** Every way the target differs from the source, in words; empty when the copy is faithful. */
export function inventoryDifferences(source: Inventory, target: Inventory): string[] {
  const problems: string[] = [];
  const targetTables = new Map(target.tables.map((t) => [t.table, t]));
  for (const s of source.tables) {
    const t = targetTables.get(s.table);
    if (!t) problems.push(`table ${s.table} is missing on the target`);
    else if (t.rows !== s.rows) problems.push(`table ${s.table}: ${s.rows} rows on the source, ${t.rows} on the target`);
    else if (t.checksum !== s.checksum) problems.push(`table ${s.table}: contents differ (checksum ${s.checksum} on the source, ${t.checksum} on the target)`);
    targetTables.delete(s.table);
  }
  for (const extra of targetTables.keys()) problems.push(`table ${extra} is on the target only`);

  for (const object of new Set([...Object.keys(source.privileges), ...Object.keys(target.privileges)])) {
    if (source.privileges[object] !== target.privileges[object]) {
      problems.push(`${object}: owner and grants ${source.privileges[object] ?? "absent"} on the source, ${target.privileges[object] ?? "absent"} on the target`);
    }
  }

  const targetSequences = new Map(target.sequences.map((s) => [s.sequence, s]));
  for (const s of source.sequences) {
    const t = targetSequences.get(s.sequence);
    // At least, not equal: a serving source may have drawn more values since the snapshot (sequences are not
    // transactional) and pg_dump reads them after it; a target behind would hand out values already used.
    if (!t) problems.push(`sequence ${s.sequence} is missing on the target`);
    else if (nextValue(t) < nextValue(s)) problems.push(`sequence ${s.sequence}: next value ${nextValue(s)} on the source, ${nextValue(t)} on the target`);
  }

  for (const [oid, s] of source.largeObjects) {
    const t = target.largeObjects.get(oid);
    if (!t) { problems.push(`large object ${oid} is missing on the target`); continue; }
    if (t.bytes !== s.bytes || t.sha256 !== s.sha256) problems.push(`large object ${oid}: contents differ (${s.bytes} bytes on the source, ${t.bytes} on the target)`);
    if (t.owner !== s.owner) problems.push(`large object ${oid}: owned by ${s.owner} on the source, ${t.owner} on the target`);
    if (t.grants.join(",") !== s.grants.join(",")) problems.push(`large object ${oid}: grants ${s.grants.join(",") || "none"} on the source, ${t.grants.join(",") || "none"} on the target`);
  }
  return problems;
}
