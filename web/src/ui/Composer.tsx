import { type FormEvent, useState } from "react";
import { engineCan } from "../net/protocol";

/**
 * Type instead of speaking. Not shown at all when the session's engine takes no typed text (its
 * `session` event lacks `text_input`): better no field than one whose every message fails.
 */
export function Composer({
  onSend,
  disabled,
  capabilities,
}: {
  onSend: (text: string) => boolean;
  disabled: boolean;
  /** The `session` event's capabilities; null before the first session (the field shows, disabled). */
  capabilities: readonly string[] | null;
}) {
  const [text, setText] = useState("");
  if (!engineCan(capabilities, "text_input")) return null;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (onSend(text)) setText("");
  };
  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor="composer-input" className="visually-hidden">
        Type a message
      </label>
      <input
        id="composer-input"
        type="text"
        value={text}
        onChange={(event) => setText(event.target.value)}
        placeholder={disabled ? "Press Engage to start talking" : "Type instead of speaking…"}
        disabled={disabled}
        maxLength={2000}
        autoComplete="off"
      />
      <button type="submit" className="button" disabled={disabled || !text.trim()}>
        Send
      </button>
    </form>
  );
}
