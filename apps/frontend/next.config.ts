import path from "node:path";
import type { NextConfig } from "next";

// The standalone server must not depend on anything outside this folder, so tracing is
// rooted here (otherwise Next guesses a workspace root from stray lockfiles higher up).
const appRoot = path.resolve(__dirname);

const nextConfig: NextConfig = {
  output: "standalone",
  outputFileTracingRoot: appRoot,
  turbopack: { root: appRoot },
  poweredByHeader: false,
  reactStrictMode: true,
  // No remote images or image optimizer downloads: everything the UI shows ships in the build.
  images: { unoptimized: true },
  // ...so sharp and its libvips binaries (about half of the standalone output) are never loaded;
  // keep them out of the image.
  outputFileTracingExcludes: {
    "*": ["node_modules/sharp/**", "node_modules/@img/**"],
  },
};

export default nextConfig;
