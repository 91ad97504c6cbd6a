import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/common/logger.js';
import { DISCOVERY_MODULES } from '../../src/config/schema.js';
import { buildDiscoveryImage, type BuildOptions, type ImageManifest } from '../../src/image/build.js';

/**
 * One real discovery image per test run, shared by the image tests: built into a fixed temp dir and
 * reused while it is newer than every input in this checkout (boot/agent, src/image, the cpio
 * writer). The .deb download and unpack cache lives next to it, so even a rebuild stays quick.
 */
export const IMAGE_TEST_DIR = join(tmpdir(), 'bootrack-image-test');
export const IMAGE_CACHE_DIR = join(IMAGE_TEST_DIR, 'cache');
export const SHARED_IMAGE_DIR = join(IMAGE_TEST_DIR, 'image');
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const AGENT_DIR = join(REPO_ROOT, 'boot', 'agent');
export const PROBE_FILE = join(REPO_ROOT, 'native', 'build', 'bootrack-probe');

export function buildOptions(outDir: string, extra: Partial<BuildOptions> = {}): BuildOptions {
  return { outDir, cacheDir: IMAGE_CACHE_DIR, kernelPackage: 'linux-image-amd64', modules: DISCOVERY_MODULES, agentDir: AGENT_DIR, probeFile: PROBE_FILE, logger: silentLogger, ...extra };
}

function newestInput(): number {
  const dirs = [AGENT_DIR, join(REPO_ROOT, 'src', 'image'), join(REPO_ROOT, 'src', 'protocol', 'cpio')];
  let newest = 0;
  for (const d of dirs) for (const f of readdirSync(d)) newest = Math.max(newest, statSync(join(d, f)).mtimeMs);
  // the native probe goes into the initramfs too (built by `npm run build`; the build fails clearly without it)
  if (existsSync(PROBE_FILE)) newest = Math.max(newest, statSync(PROBE_FILE).mtimeMs);
  return newest;
}

export function readManifest(dir: string): ImageManifest {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ImageManifest;
}

/** The shared image, built now if missing or older than its inputs. */
export async function ensureDiscoveryImage(progress?: (line: string) => void): Promise<{ dir: string; manifest: ImageManifest; built: boolean }> {
  const manifestPath = join(SHARED_IMAGE_DIR, 'manifest.json');
  if (existsSync(manifestPath) && statSync(manifestPath).mtimeMs > newestInput()) {
    return { dir: SHARED_IMAGE_DIR, manifest: readManifest(SHARED_IMAGE_DIR), built: false };
  }
  const manifest = await buildDiscoveryImage(buildOptions(SHARED_IMAGE_DIR, progress ? { progress } : {}));
  return { dir: SHARED_IMAGE_DIR, manifest, built: true };
}
