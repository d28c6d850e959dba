// Enumerations of the domain model (docs/data-model.md).
export const sectors = ['healthcare', 'agriculture', 'industry', 'education', 'finance', 'transport', 'government', 'services', 'science', 'other'];
export const modalities = ['text', 'image', 'audio', 'video', 'tabular', 'code', 'multimodal'];
export const statuses = ['active', 'frozen', 'retired'];
export const eventTypes = ['COLLECTED', 'PROCESSED', 'ASSESSED', 'CIRCULATED', 'TRADED', 'AUDITED', 'FROZEN', 'UNFROZEN', 'RETIRED'];
