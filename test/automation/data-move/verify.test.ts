/** The verify step's comparison on literal inventories: each kind of difference it must catch, and what it must let pass. */
import { describe, expect, it } from "vitest";
import { inventoryDifferences, type Inventory } from "../../../automation/data-move/verify.ts";

const source: Inventory = {
  tables: [
    { table: "customers", rows: 5000, bytes: 412345, checksum: "0f3c6a1e8e0b4f5d9c2a7b6e5d4c3b2a" },
    { table: "events", rows: 3000, bytes: 250000, checksum: "9a8b7c6d5e4f30211203f4e5d6c7b8a9" },
  ],
  privileges: { "(schema)": "owner=tenant_acme;", customers: "owner=tenant_acme;", reference_rates: "owner=postgres;tenant_acme=INSERT,tenant_acme=SELECT" },
  sequences: [{ sequence: "invoice_no", lastValue: "1234", isCalled: true }, { sequence: "customers_id_seq", lastValue: "1", isCalled: false }],
  largeObjects: new Map([[115004, { bytes: 1120000, sha256: "ab".repeat(32), owner: "tenant_acme", grants: ["reporting=SELECT"] }]]),
};
const copy = (over: Partial<Inventory>): Inventory => ({ ...source, ...over });

describe("comparing the source's and the target's inventories", () => {
  it("finds nothing in a faithful copy, nor in a target whose sequences went further", () => {
    expect(inventoryDifferences(source, source)).toEqual([]);
    expect(inventoryDifferences(source, copy({ sequences: [{ sequence: "invoice_no", lastValue: "1240", isCalled: true }, { sequence: "customers_id_seq", lastValue: "1", isCalled: true }] }))).toEqual([]);
  });

  it("names a table with other rows, other contents, missing or extra", () => {
    expect(inventoryDifferences(source, copy({ tables: [{ ...source.tables[0]!, rows: 4999 }, { ...source.tables[1]!, checksum: "00000000000000000000000000000000" }, { table: "stray", rows: 1, bytes: 2, checksum: "11111111111111111111111111111111" }] }))).toEqual([
      "table customers: 5000 rows on the source, 4999 on the target",
      "table events: contents differ (checksum 9a8b7c6d5e4f30211203f4e5d6c7b8a9 on the source, 00000000000000000000000000000000 on the target)",
      "table stray is on the target only",
    ]);
    expect(inventoryDifferences(source, copy({ tables: [source.tables[0]!] }))).toEqual(["table events is missing on the target"]);
  });

  it("names an owner or grant that differs", () => {
    expect(inventoryDifferences(source, copy({ privileges: { ...source.privileges, reference_rates: "owner=postgres;tenant_acme=SELECT", customers: "owner=postgres;" } }))).toEqual([
      "customers: owner and grants owner=tenant_acme; on the source, owner=postgres; on the target",
      "reference_rates: owner and grants owner=postgres;tenant_acme=INSERT,tenant_acme=SELECT on the source, owner=postgres;tenant_acme=SELECT on the target",
    ]);
  });

  it("names a sequence behind the source (it would hand out used values) or missing", () => {
    expect(inventoryDifferences(source, copy({ sequences: [{ sequence: "invoice_no", lastValue: "1234", isCalled: false }] }))).toEqual([
      "sequence invoice_no: next value 1235 on the source, 1234 on the target",
      "sequence customers_id_seq is missing on the target",
    ]);
  });

  it("names a large object missing, with other contents, owner or grants", () => {
    expect(inventoryDifferences(source, copy({ largeObjects: new Map() }))).toEqual(["large object 115004 is missing on the target"]);
    expect(inventoryDifferences(source, copy({ largeObjects: new Map([[115004, { bytes: 1119999, sha256: "cd".repeat(32), owner: "postgres", grants: [] }]]) }))).toEqual([
      "large object 115004: contents differ (1120000 bytes on the source, 1119999 on the target)",
      "large object 115004: owned by tenant_acme on the source, postgres on the target",
      "large object 115004: grants reporting=SELECT on the source, none on the target",
    ]);
  });
});
