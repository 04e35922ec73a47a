/**
 * The converter reads valibot's own pieces; the two it cannot read (custom schemas,
 * check actions) must be described, and the descriptions must give the same verdict
 * as the code they stand for (property tests, fixed seed, ajv as the JSON Schema side).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import * as v from 'valibot';
import { describedAs, jsonSchemaDefs, jsonSchemaOf, jsonSchemasOf } from '../../src/api/json-schema.ts';
import { jsonObject, nonEmptyString, stringMap } from '../../src/api/schemas.ts';
import { isPlainFolderName, PLAIN_FOLDER_NAME } from '../../src/skills/library.ts';

const ajv = new Ajv2020({ strict: false });
const SEED = 42;

describe('json-schema', () => {
  it('refuses a custom schema or a check action nobody described', () => {
    assert.throws(() => jsonSchemaOf(v.custom((x) => x === 1)), /"custom" schema cannot be converted/);
    assert.throws(() => jsonSchemaOf(v.pipe(v.string(), v.check((s) => s !== 'x'))), /"check" action cannot be converted/);
  });

  it('uses the description given, merged into what the converter made', () => {
    const described = v.pipe(v.string(), describedAs(v.check((s: string) => s.startsWith('a')), { pattern: '^a' }));
    assert.deepEqual(jsonSchemaOf(described), { type: 'string', pattern: '^a' });
    assert.deepEqual(jsonSchemaOf(stringMap), { type: 'object', additionalProperties: { type: 'string' } });
  });

  it('names shared schemas as $refs to components, without $schema or $defs', () => {
    const Item = v.object({ n: v.number() });
    assert.deepEqual(jsonSchemaOf(v.array(Item), { Item }), { type: 'array', items: { $ref: '#/components/schemas/Item' } });
    assert.deepEqual(jsonSchemaDefs({ Item }), { Item: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] } });
  });

  it('converts many schemas in one pass exactly as one by one', () => {
    const Item = v.object({ n: v.number() });
    const list = v.array(Item);
    const schemas = [list, Item, v.optional(v.string(), 'x'), nonEmptyString, jsonObject, list];
    const batch = jsonSchemasOf(schemas, { Item });
    assert.equal(batch.size, 5);
    for (const schema of schemas) assert.deepEqual(batch.get(schema), jsonSchemaOf(schema, { Item }));
  });

  const sameVerdict = (schema: v.GenericSchema, arbitrary: fc.Arbitrary<unknown>) => {
    const check = ajv.compile(jsonSchemaOf(schema));
    fc.assert(fc.property(arbitrary, (x) => v.is(schema, x) === check(x)), { seed: SEED, numRuns: 2000 });
  };

  it('nonEmptyString: the \\S pattern accepts exactly what trim() does', () => {
    sameVerdict(nonEmptyString, fc.oneof(fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\u00a0', '\u2028', '\ufeff', 'a') }), fc.string()));
  });

  it('jsonObject: an object, never an array or null', () => {
    sameVerdict(jsonObject, fc.oneof(fc.jsonValue(), fc.array(fc.integer()), fc.constant(null), fc.dictionary(fc.string(), fc.jsonValue())));
  });

  it('isPlainFolderName and PLAIN_FOLDER_NAME agree (below U+10000)', () => {
    const check = ajv.compile({ type: 'string', ...PLAIN_FOLDER_NAME });
    const names = fc.oneof(
      fc.constantFrom('.', '..', '...', '', 'a/b', 'a\\b', 'a\0b', '.hidden', 'x'.repeat(255), 'x'.repeat(256)),
      fc.string({ unit: fc.constantFrom('.', '/', '\\', '\0', 'a', 'é') }),
      fc.string({ maxLength: 300 }),
    );
    fc.assert(fc.property(names, (s) => isPlainFolderName(s) === check(s)), { seed: SEED, numRuns: 3000 });
  });
});
