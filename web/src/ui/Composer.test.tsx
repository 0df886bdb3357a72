import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { Composer } from "./Composer";

const render = (capabilities: readonly string[] | null, disabled = false) =>
  renderToStaticMarkup(<Composer onSend={() => true} disabled={disabled} capabilities={capabilities} />);

describe("Composer", () => {
  it("is there when the engine takes typed text", () => {
    const html = render(["text_input", "tools"]);
    expect(html).toContain('id="composer-input"');
    expect(html).toContain("Type instead of speaking");
  });

  it("is hidden, not an error waiting to happen, when the engine takes no typed text", () => {
    expect(render([])).toBe("");
    expect(render(["tools", "client_endpointing"])).toBe("");
  });

  it("shows, disabled, before any session has said what its engine can do", () => {
    const html = render(null, true);
    expect(html).toContain('id="composer-input"');
    expect(html).toContain("disabled");
  });
});
