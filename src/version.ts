/** syncgate's version, as `syncgate -v` prints it. */
export const VERSION = "0.1.0";
