/**
 * Names shared by the program and the automation layer, in a module that
 * loads nothing else: the service process uses them without paying for the
 * Pulumi SDK and every provider.
 */

/** Pulumi project of every tenant stack. */
export const PROJECT_NAME = "matih-tenants";

/** Printed in place of every secret value in renders, results and events. */
export const SECRET_PLACEHOLDER = "[secret]";
