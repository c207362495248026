"""Operations built on the engine: verify, baseline, dump, adopting dbmate, scratch databases."""
