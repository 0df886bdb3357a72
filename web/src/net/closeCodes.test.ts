import { describe, expect, it } from "vitest";
import { EDGE_CLOSES, ERROR_CLOSES, errorEndsSession, judgeClose } from "./closeCodes";
import schema from "./protocol.schema.json";

const codes = (name: "CloseCode" | "ErrorCode") => schema.$defs[name].oneOf.map((member) => member.const);

describe("closeCodes", () => {
  it("has a verdict of its own for every close code of the edge, and for no other", () => {
    const closes = codes("CloseCode");
    expect(Object.keys(EDGE_CLOSES).map(Number).sort()).toEqual([...closes].sort());
    for (const code of closes) {
      expect(judgeClose(Number(code), "", false).message, String(code)).not.toMatch(/^Connection closed \(/);
    }
  });

  it("knows for every error code of the edge, and no other, whether the session ends", () => {
    expect(Object.keys(ERROR_CLOSES).sort()).toEqual(codes("ErrorCode").map(String).sort());
    expect(errorEndsSession("auth_expired")).toBe(true);
    expect(errorEndsSession("invalid_json")).toBe(false);
    expect(errorEndsSession("an_engine_code")).toBe(false);
  });

  it("names only close codes of the edge as what follows an error", () => {
    const closes = new Set(codes("CloseCode"));
    for (const close of Object.values(ERROR_CLOSES)) if (close !== null) expect(closes.has(close)).toBe(true);
  });
});
