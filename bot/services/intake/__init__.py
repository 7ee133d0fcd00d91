"""How conversations start: a DM or intake channel (`dm`), Rocket.Chat's livechat (`livechat`)."""
