// Whether this browser can draw the 3D avatar (WebGL 2, what three.js needs), and whether it draws
// on the CPU (a software renderer: SwiftShader in headless Chromium, llvmpipe on a Linux machine
// without a GPU driver), where the avatar runs leaner. Probed without keeping the context.

export interface WebGlSupport {
  /** The renderer's name, as the browser reports it. */
  renderer: string;
  software: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|softpipe|software|basic render/i;

export function probeWebGl2(): WebGlSupport | null {
  try {
    const gl = document.createElement("canvas").getContext("webgl2");
    if (!gl) return null;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? "");
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return { renderer, software: SOFTWARE.test(renderer) };
  } catch {
    return null;
  }
}
