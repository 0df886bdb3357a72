/** The TypeScript module for a schema of the protocol (see genProtocol.mjs). */
export function generate(schema: object): Promise<string>;
