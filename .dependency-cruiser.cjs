/** The one dependency rule of DESIGN.md, enforced in CI: arrows point one way. */
module.exports = {
  forbidden: [
    { name: 'common-is-a-leaf', severity: 'error', from: { path: '^src/common/' }, to: { path: '^src/(?!common/)' } },
    { name: 'protocol-is-pure', severity: 'error', comment: 'codecs know bytes, nothing else', from: { path: '^src/protocol/' }, to: { path: '^src/(?!protocol/|common/)' } },
    { name: 'protocol-no-io', severity: 'error', from: { path: '^src/protocol/' }, to: { dependencyTypes: ['core'], path: '^(fs|net|dgram|child_process|http|https|node:fs|node:net|node:dgram|node:child_process|node:http|node:https)$' } },
    { name: 'only-registry-knows-sql', severity: 'error', from: { path: '^src/(?!registry/)' }, to: { path: 'node_modules/better-sqlite3' } },
    { name: 'registry-below-policy', severity: 'error', from: { path: '^src/registry/' }, to: { path: '^src/(?!registry/|common/|protocol/)' } },
    { name: 'servers-take-policy-as-handlers', severity: 'error', from: { path: '^src/servers/' }, to: { path: '^src/(netboot|registry|api|power|provisioning|main|cli)' } },
    { name: 'netboot-is-policy', severity: 'error', from: { path: '^src/netboot/' }, to: { path: '^src/(servers|api|power|provisioning|main|cli)' } },
    { name: 'power-below-api', severity: 'error', from: { path: '^src/power/' }, to: { path: '^src/(servers|api|netboot|provisioning|main|cli)' } },
    { name: 'api-not-servers', severity: 'error', from: { path: '^src/api/' }, to: { path: '^src/(servers|provisioning|main|cli)' } },
    { name: 'provisioning-is-remote', severity: 'error', comment: 'the pxe: driver runs in remote programs: an API client only', from: { path: '^src/provisioning/' }, to: { path: '^src/(registry|netboot|servers|api|power|main|cli)' } },
    { name: 'core-never-imports-a-driver', severity: 'error', from: { path: '^src/provisioning/(?!drivers/|builtin)' }, to: { path: '^src/provisioning/drivers/' } },
    { name: 'image-builder-stands-alone', severity: 'error', comment: 'the discovery image builder needs no daemon part', from: { path: '^src/image/' }, to: { path: '^src/(?!image/|common/|protocol/|config/)' } },
    { name: 'nothing-imports-cli', severity: 'error', from: { path: '^src/(?!cli/)' }, to: { path: '^src/cli/' } },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
