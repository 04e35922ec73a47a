import { type ConversionConfig, type JsonSchema, toJsonSchema, toJsonSchemaDefs } from '@valibot/to-json-schema';
import * as v from 'valibot';

export type { JsonSchema };

const described = new WeakMap<object, JsonSchema>();

/**
 * Gives a custom schema or a check action, which JSON Schema cannot read, the JSON
 * Schema that says the same. The converter refuses any such piece left undescribed,
 * so the document can never silently accept more than the server.
 */
export function describedAs<T extends object>(piece: T, json: JsonSchema): T {
  described.set(piece, json);
  return piece;
}

function config(definitions?: Record<string, v.GenericSchema>): ConversionConfig {
  return {
    target: 'draft-2020-12',
    // A request schema is described as the client sends it: before transforms (`todo` → `pending`).
    typeMode: 'input',
    errorMode: 'throw',
    definitions,
    overrideSchema: ({ valibotSchema }) => described.get(valibotSchema),
    overrideAction: ({ valibotAction, jsonSchema }) => {
      const json = described.get(valibotAction);
      return json && { ...jsonSchema, ...json };
    },
    overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
  };
}

/**
 * The JSON Schema of a valibot schema, with no `$schema` key. With `definitions`,
 * schemas named there become `$ref`s to `#/components/schemas/<name>`.
 */
export function jsonSchemaOf(schema: v.GenericSchema, definitions?: Record<string, v.GenericSchema>): JsonSchema {
  const { $schema: _, $defs: __, ...json } = toJsonSchema(schema, config(definitions));
  return json;
}

/**
 * Many schemas in one conversion: the definitions are converted once rather than once
 * per schema (a document's worth took ~40 ms one by one, a few ms this way).
 */
export function jsonSchemasOf(schemas: v.GenericSchema[], definitions?: Record<string, v.GenericSchema>): Map<v.GenericSchema, JsonSchema> {
  const unique = [...new Set(schemas)];
  const all = jsonSchemaOf(v.object(Object.fromEntries(unique.map((schema, i) => [i, schema]))), definitions);
  const properties = all.properties as Record<string, JsonSchema>;
  return new Map(unique.map((schema, i) => [schema, properties[i]]));
}

/** The components of a document: each named schema, converted with the others as `$ref`s. */
export function jsonSchemaDefs(definitions: Record<string, v.GenericSchema>): Record<string, JsonSchema> {
  const { definitions: _, ...rest } = config();
  return toJsonSchemaDefs(definitions, rest);
}
