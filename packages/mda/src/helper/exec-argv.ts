// Node's flags for the per-uid delivery helper process, shared by both places that start one
// (the privileged process of a root daemon, spawnHelper here). Kept apart so the privileged side
// imports a constant, not the helper's modules.

/**
 * A small young generation: the helper allocates little per delivery (one frame, one write), so
 * V8's default semi-space growth to 16 MB only kept pages resident in every helper for nothing.
 */
export const HELPER_EXEC_ARGV: readonly string[] = ['--max-semi-space-size=1'];
