// Object.freeze where the engine has it (Node, XS), identity where it does not (Espruino).
// XS keeps frozen preloaded tables in flash; elsewhere freezing only guards against mistakes.
// Never pass a typed array with elements: engines refuse to freeze those.

export const freeze = (Object.freeze || function <T>(o: T): T { return o; }) as <T>(o: T) => Readonly<T>;
