"""What a viewer does with the email they may see, beyond changing it: saving attachments, exporting."""
