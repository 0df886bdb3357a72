import { describe, expect, it } from "vitest";
import { parseAvatarModel } from "./config";

const origin = "http://127.0.0.1:8000";

describe("parseAvatarModel", () => {
  it("resolves a model the edge serves against the page", () => {
    expect(parseAvatarModel({ avatar: { model: "/avatar/head.glb" } }, origin)).toBe(`${origin}/avatar/head.glb`);
  });

  it("takes a model elsewhere by its URL", () => {
    expect(parseAvatarModel({ avatar: { model: "https://cdn.example/a.glb" } }, origin)).toBe("https://cdn.example/a.glb");
  });

  it("means the built-in head without a model, or with one it cannot use", () => {
    expect(parseAvatarModel({ signIn: {} }, origin)).toBeNull();
    expect(parseAvatarModel({ avatar: null }, origin)).toBeNull();
    expect(parseAvatarModel({ avatar: { model: "" } }, origin)).toBeNull();
    expect(parseAvatarModel({ avatar: { model: "javascript:alert(1)" } }, origin)).toBeNull();
  });
});
