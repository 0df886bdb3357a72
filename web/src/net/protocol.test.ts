import { describe, expect, it } from "vitest";
import { generate } from "../../scripts/genProtocol.mjs";
import committed from "./protocol.generated.ts?raw";
import { BINARY_PROTOCOL, parseServerEvent } from "./protocol";
import schema from "./protocol.schema.json";

type Definition = { properties?: { event?: { enum?: string[] } } };

/** The `event` names of the schema's server events. */
function serverEvents(): string[] {
  const defs = schema.$defs as Record<string, Definition>;
  return schema.$defs.ServerEvent.anyOf.map((member) => {
    const name = member.$ref.replace("#/$defs/", "");
    return defs[name]?.properties?.event?.enum?.[0] ?? `no event in ${name}`;
  });
}

describe("the protocol's TypeScript types", () => {
  it("are what the committed schema makes (else: npm run gen:protocol)", async () => {
    expect(committed).toBe(await generate(schema));
  });

  it("offer a subprotocol of the schema", () => {
    expect(schema["x-subprotocols"]).toContain(BINARY_PROTOCOL);
  });
});

describe("parseServerEvent", () => {
  it("takes every JSON event of the schema; audio comes as binary frames instead", () => {
    const events = serverEvents();
    expect(events).toContain("session");
    for (const event of events) {
      expect(parseServerEvent(JSON.stringify({ event }))?.event, event).toBe(event === "media" ? undefined : event);
    }
  });

  it("ignores what it does not know", () => {
    expect(parseServerEvent('{"event":"dance"}')).toBeNull();
    expect(parseServerEvent("not json")).toBeNull();
    expect(parseServerEvent("[1]")).toBeNull();
  });
});
