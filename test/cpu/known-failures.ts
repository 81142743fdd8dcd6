/**
 * Opcode-table rows (rowKey), or groups such as '#AC', that are known to disagree
 * with the host CPU while their implementation is being written, with the reason.
 * The differential test reports them as skipped and fails when one of them starts to
 * agree, so this list only shrinks. Keep it short and empty it as rows are fixed.
 */
export const KNOWN_FAILING: Record<string, string> = {};
