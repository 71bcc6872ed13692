import { describe, expect, it } from "vitest";
import { schemaProblems } from "../../../server/plugins/errors.ts";

describe("schema errors as the API answers them", () => {
  it("read `must be one of` for a choice, once per field, beside every other field's problem", () => {
    const problems = schemaProblems([
      { instancePath: "/tier", keyword: "enum", message: "must be equal to one of the allowed values", params: { allowedValues: ["free", "professional", "enterprise"] } },
      { instancePath: "/lastPhase", keyword: "maximum", message: "must be <= 10", params: { comparison: "<=", limit: 10 } },
      { instancePath: "", keyword: "additionalProperties", message: "must NOT have additional properties", params: { additionalProperty: "colour" } },
    ]);
    expect(problems).toEqual([
      { field: "tier", message: "must be one of free, professional, enterprise" },
      { field: "lastPhase", message: "must be <= 10" },
      { field: "colour", message: "is not a known field" },
    ]);
  });

  it("collapse a union of constants into one line instead of one per constant plus anyOf", () => {
    const problems = schemaProblems([
      { instancePath: "/tier", keyword: "const", message: "must be equal to constant", params: { allowedValue: "free" } },
      { instancePath: "/tier", keyword: "const", message: "must be equal to constant", params: { allowedValue: "professional" } },
      { instancePath: "/tier", keyword: "const", message: "must be equal to constant", params: { allowedValue: "enterprise" } },
      { instancePath: "/tier", keyword: "anyOf", message: "must match a schema in anyOf", params: {} },
    ]);
    expect(problems).toEqual([{ field: "tier", message: "must be one of free, professional, enterprise" }]);
  });
});
