import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The edge serves dist/ at /; in `npm run dev` the API and the WebSocket are proxied to an edge
// started by ./run (EDGE_URL picks another one).
const edge = process.env.EDGE_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    // One file per worklet, loaded by URL: they run in the audio rendering thread.
    assetsInlineLimit: 0,
    // three.js is one chunk of about 600 kB (150 kB gzip), loaded only after sign-in.
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: {
      "/api": edge,
      "/ws": { target: edge.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
