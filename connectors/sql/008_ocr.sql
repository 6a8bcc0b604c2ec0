-- Version 8: OCR of pages without a text layer. One row per page of each PDF content parsed
-- with OCR on (`--ocr auto|always`): whether OCR gave the page its text, with which engine and
-- languages, and Tesseract's mean word confidence (0-100). PDFs parsed with OCR off have no
-- rows, which is how a later run with OCR on knows which contents to parse again.
CREATE TABLE document_pages (
    doc_id      VARCHAR NOT NULL,
    page        INTEGER NOT NULL,         -- 1-based
    text_chars  INTEGER NOT NULL,         -- non-space characters of the page's text layer
    ocr         BOOLEAN NOT NULL,         -- the stored text of this page came from OCR
    ocr_status  VARCHAR NOT NULL,         -- text_layer | ocr | empty | timeout | failed
    engine      VARCHAR,
    languages   VARCHAR,
    confidence  DOUBLE,
    seconds     DOUBLE,
    detail      VARCHAR,
    created_at  TIMESTAMPTZ NOT NULL
);

-- An extraction whose quote grounded on an OCR'd page: a reviewer checks it against the image.
ALTER TABLE extractions ADD COLUMN ocr BOOLEAN;
