export const x = 1; /** hello */ export class Foo { /** @default 3 */ public readonly y?: number; }
