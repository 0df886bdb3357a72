// The avatar model an operator configured, from GET /api/config: `{"avatar": {"model": "<url>"}}`.

/**
 * The model's URL (a glTF/GLB file, absolute or relative to the page), or null for the built-in
 * head. Only http(s) URLs and paths on this server are taken.
 */
export function parseAvatarModel(body: unknown, pageOrigin: string): string | null {
  if (typeof body !== "object" || body === null) return null;
  const avatar = (body as { avatar?: unknown }).avatar;
  if (typeof avatar !== "object" || avatar === null) return null;
  const model = (avatar as { model?: unknown }).model;
  if (typeof model !== "string" || !model.trim()) return null;
  try {
    const url = new URL(model.trim(), pageOrigin);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}
