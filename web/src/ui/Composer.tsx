import { type FormEvent, useState } from "react";

/** Type instead of speaking. */
export function Composer({ onSend, disabled }: { onSend: (text: string) => boolean; disabled: boolean }) {
  const [text, setText] = useState("");
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
