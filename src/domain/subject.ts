import { createHash } from 'node:crypto';

/** The app-owned billing owner (a team, a user…), carried in Stripe metadata. */
export interface Subject {
  type: string;
  id: string;
}

export const subjectMetadataKeys = { type: 'payfold_subject_type', id: 'payfold_subject_id' } as const;
export const requestIdMetadataKey = 'payfold_request_id';

export const subjectOfMetadata = (metadata: Record<string, string> | null | undefined): Subject | null => {
  const type = metadata?.[subjectMetadataKeys.type];
  const id = metadata?.[subjectMetadataKeys.id];
  return type && id ? { type, id } : null;
};

/** The metadata that names a subject on a Stripe object (the inverse of `subjectOfMetadata`). */
export const subjectMetadata = (subject: Subject): Record<string, string> => ({
  [subjectMetadataKeys.type]: subject.type,
  [subjectMetadataKeys.id]: subject.id,
});

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => uuidPattern.test(value);

/** Payfold's namespace for name-based (version 5) UUIDs. */
const payfoldNamespace = Buffer.from('6f1d7a52c0de4e5b9a6b2f3c4d5e6f70', 'hex');

/** A name-based UUID (RFC 9562 version 5): the same name always gives the same id, on any machine. */
export const nameBasedUuid = (name: string): string => {
  const hash = createHash('sha1').update(payfoldNamespace).update(name).digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};
